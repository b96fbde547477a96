import { applicableMfa } from '../../authn/mfa/index.js';
import { beginStep, hasSecondFactor, signInNeed } from '../../authn/mfa/sign-in-step.js';
import { authenticate, openSession } from '../../authn/sessions/sessions.js';
import { homeTenantOf } from '../../directory/users/lookups.js';
import type { Interaction, Oidc } from '../../oauth/engine/index.js';
import type { Organization } from '../../oauth/tokens/organizations.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { MfaFactorType, Session, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { runTrigger } from '../../platform/ports/actions.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';

/**
 * The hosted sign-in as one table of steps, read top to bottom (node-oidc-provider's
 * interaction policy: a prompt is a list of checks run in order, and the first that needs
 * the user stops the run and says what to ask). The engine asks for two prompts in turn:
 *
 *   login:   password → second factor                       → finishLogin
 *   consent: organization → tenant boundary → consent       → finishConsent
 *
 * A step takes plain values and passes (`undefined`) or answers what the user must see
 * (an outcome). The page handlers (routes.ts, interaction-mfa.ts) parse the request, run
 * the steps and render the outcome; no rule of the sign-in lives in a handler.
 */
interface Step<State, Outcome> {
  name: string;
  check(deps: Deps, state: State): Promise<Outcome | undefined>;
}
interface Deps {
  ctx: AppContext;
  oidc: Oidc;
}

async function run<State, Outcome>(
  steps: readonly Step<State, Outcome>[],
  deps: Deps,
  state: State,
  done: (deps: Deps, state: State) => Promise<Outcome>,
): Promise<Outcome> {
  for (const step of steps) {
    const outcome = await step.check(deps, state);
    if (outcome) return outcome;
  }
  return done(deps, state);
}

// The login prompt

/** Who the sign-in has proved so far: by a password, a live session, or a flow that signed in (sign-up, reset, passwordless…). */
export interface SignedIn {
  user: User;
  session?: Session;
  /** How the user proved who they are (default: the password); a live session's own `amr` counts instead. */
  amr?: string[];
  /** Ask for the account's second factor whenever it has one (linking an identity to it, decision 266). */
  secondFactor?: boolean;
  /** The federation connection the user signed in through, for the session (`/v2/logout?federated`). */
  connectionId?: string;
}

export interface LoginState {
  it: Interaction;
  actor: Actor;
  /** The sign-in form's answer. */
  credentials?: { username: string; password: string };
  /** This browser's live Gatehouse session (from this page or /api/v1/session). */
  session?: ActiveSession | undefined;
  signedIn?: SignedIn;
  /** A post-login action asked for the second factor. */
  actionsMfa?: boolean;
}

export type LoginOutcome =
  | { step: 'password' }
  | { step: 'second_factor' }
  /** The login is done: the engine's finishLogin, after the session's cookie when one was opened. */
  | { step: 'logged_in'; userId: string; amr: string[]; opened?: Awaited<ReturnType<typeof openSession>> };

const password: Step<LoginState, LoginOutcome> = {
  name: 'password',
  async check({ ctx }, s) {
    if (s.signedIn) return undefined;
    if (s.credentials) {
      s.signedIn = { user: await authenticate(ctx, s.credentials, s.actor) };
      return undefined;
    }
    // One sign-in: a live session needs no password again, unless the application asks for one (prompt=login, max_age).
    if (s.session && !s.it.reasons.includes('login_prompt') && !s.it.reasons.includes('max_age')) {
      s.signedIn = s.session;
      return undefined;
    }
    return { step: 'password' };
  },
};

/**
 * The second factor the application's policies ask for (or a step-up a live session has not
 * proved). Until the MFA step is done (interaction-mfa.ts) no session is opened (or, for a
 * step-up, the session's `amr` is not raised), so nothing can skip it.
 */
const secondFactor: Step<LoginState, LoginOutcome> = {
  name: 'second_factor',
  async check({ ctx }, s) {
    const { user, session } = proved(s);
    const first = s.signedIn?.amr ?? ['pwd'];
    let need = await signInNeed(ctx, user, s.it.mfaTarget, { amr: session?.amr ?? first, acrValues: s.it.acrValues });
    if (need === 'none' && s.signedIn?.secondFactor && !first.includes('mfa') && (await hasSecondFactor(ctx, user.id))) need = 'challenge';
    // An action's api.multifactor.enable: the factor the account has, or enrolling one.
    if (need === 'none' && s.actionsMfa && !(session?.amr ?? first).includes('mfa'))
      need = (await hasSecondFactor(ctx, user.id)) ? 'challenge' : 'enrol';
    if (need === 'none') return undefined;
    await beginStep(ctx, {
      uid: s.it.uid,
      userId: user.id,
      sessionId: session?.id ?? null,
      need,
      ...(!session && { firstAmr: first, connectionId: s.signedIn?.connectionId }),
    });
    return { step: 'second_factor' };
  },
};

/**
 * The post-login actions (issue 16): bound to the application's tenant (and the system's),
 * they may refuse the sign-in (its reason shown on this page, 403 access_denied) or ask for
 * the second factor (`api.multifactor.enable`). They run again when the application
 * exchanges the code, where their claims go into the tokens.
 */
const actions: Step<LoginState, LoginOutcome> = {
  name: 'actions',
  async check({ ctx }, s) {
    const { user } = proved(s);
    const result = await runTrigger(ctx, 'post-login', {
      tenantId: s.it.client.tenantId,
      userId: user.id,
      clientId: s.it.client.clientId,
      request: { ip: s.actor.ip ?? undefined, user_agent: s.actor.userAgent ?? undefined },
      transaction: { protocol: 'oidc-basic-profile' },
    });
    if (result.denied) throw new AppError('access_denied', result.denied.reason);
    if (result.mfa) s.actionsMfa = true;
    return undefined;
  },
};

export const LOGIN_STEPS = [password, actions, secondFactor] as const;

const proved = (s: LoginState): SignedIn => {
  if (!s.signedIn) throw new Error('The password step runs first');
  return s.signedIn;
};

/** The end of the login prompt: the live session, or a new one with what this sign-in proved. */
async function loggedIn({ ctx }: Deps, s: LoginState): Promise<LoginOutcome> {
  const { user, session, amr = ['pwd'], connectionId } = proved(s);
  if (session) return { step: 'logged_in', userId: user.id, amr: session.amr };
  const opened = await openSession(ctx, user, { amr, connectionId }, s.actor);
  return { step: 'logged_in', userId: user.id, amr: opened.session.amr, opened };
}

export const runLogin = (deps: Deps, state: LoginState) => run(LOGIN_STEPS, deps, state, loggedIn);

/** The factor types that count for a sign-in's second factor (decision 198); undefined when the user is gone. */
export async function allowedFactors(ctx: AppContext, userId: string, it: Interaction): Promise<readonly MfaFactorType[] | undefined> {
  const home = await homeTenantOf(ctx.db, userId);
  return home === undefined ? undefined : (await applicableMfa(ctx, { home_tenant_id: home }, it.mfaTarget)).factors;
}

// The consent prompt

export interface ConsentState {
  it: Interaction;
  /** The organization the user picked on the organization page. */
  chosen?: string;
  /** The organizations the user is a member of, among those the application serves. */
  organizations: Organization[];
  organization?: Organization;
}

export type ConsentOutcome =
  | { step: 'organization'; organizations: Organization[] }
  | { step: 'refused'; reason: 'not_member' | 'not_tenant_member' }
  | { step: 'consent'; organization?: Organization }
  /** Authorized: the engine's finishConsent, with the organization when one was chosen. */
  | { step: 'authorized'; organization?: Organization };

/** An application that requires an organization (or a request that names one) gets one the user is a member of. */
const organization: Step<ConsentState, ConsentOutcome> = {
  name: 'organization',
  async check(_deps, s) {
    if (!s.it.client.organizationRequired && !s.it.organization) return undefined;
    const wanted = s.chosen ?? s.it.organization;
    const found = wanted
      ? s.organizations.find((o) => o.id === wanted || o.slug.toLowerCase() === wanted.toLowerCase())
      : s.organizations.length === 1
        ? s.organizations[0]
        : undefined;
    if (wanted && !found) return { step: 'refused', reason: 'not_member' };
    if (!found) return { step: 'organization', organizations: s.organizations };
    s.organization = found;
    return undefined;
  },
};

/**
 * The tenant boundary: a tenant's application serves that tenant's members only (a
 * platform application serves everyone; an organization chosen above is one already).
 */
const tenantBoundary: Step<ConsentState, ConsentOutcome> = {
  name: 'tenant_boundary',
  async check(_deps, s) {
    if (s.organization || s.it.client.platform || s.organizations.some((o) => o.id === s.it.client.tenantId)) return undefined;
    return { step: 'refused', reason: 'not_tenant_member' };
  },
};

/** A third-party application asks the user to allow the scopes (OpenID and API) not yet allowed. */
const consent: Step<ConsentState, ConsentOutcome> = {
  name: 'consent',
  async check(_deps, s) {
    if (s.it.client.firstParty || (s.it.missingScopes.length === 0 && s.it.missingApiScopes.length === 0)) return undefined;
    return { step: 'consent', ...(s.organization && { organization: s.organization }) };
  },
};

export const CONSENT_STEPS = [organization, tenantBoundary, consent] as const;

const authorized = async (_deps: Deps, s: ConsentState): Promise<ConsentOutcome> => ({
  step: 'authorized',
  ...(s.organization && { organization: s.organization }),
});

/** The consent prompt's steps for the signed-in account of the interaction; `chosen`: the organization page's answer. */
export async function runConsent(deps: Deps, it: Interaction, chosen?: string): Promise<ConsentOutcome> {
  const organizations = await deps.oidc.organizationsFor(it.accountId ?? '', it.client.tenantId);
  return run(CONSENT_STEPS, deps, { it, organizations, ...(chosen !== undefined && { chosen }) }, authorized);
}

/** The consent form's organization (the one its page showed) must be one of the user's: anything else is forged. */
export async function assertConsentOrganization(deps: Deps, it: Interaction, organizationId: string): Promise<void> {
  const member = (await deps.oidc.organizationsFor(it.accountId ?? '', it.client.tenantId)).some((o) => o.id === organizationId);
  if (!member) throw new AppError('forbidden', 'You are not a member of that organization');
}
