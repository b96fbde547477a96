import { assertPasswordAllowed, passwordPolicyFor, rememberPassword } from '../../authn/passwords/policy.js';
import { sendEmail } from '../../directory/branding/email.js';
import { isRestricted } from '../../directory/permissions/catalog.js';
import { type Policies, tenantPolicies } from '../../directory/policies/policies.js';
import { roleNamed } from '../../directory/roles/roles.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { isUniqueViolation } from '../../platform/db/database.js';
import { lockFor } from '../../platform/db/locks.js';
import type { FlowChannel, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { type Locale, supportedLocale } from '../../platform/i18n/index.js';
import { emailIs, normalizeEmail } from '../../platform/mail/address.js';
import { runTrigger } from '../../platform/ports/actions.js';
import { advanceFlow, createFlow, openFlow } from '../kit/flows.js';
import { translator } from '../kit/messages.js';
import { REGISTRATION, type RegistrationFlow, VERIFICATION, type VerificationFlow } from './flow.js';
import { recentFlowCount, sendVerification } from './verification.js';

/**
 * Self-registration (issue 5): a person creates an account through an application, in the
 * application's tenant, with that tenant's default role. The flow is a stored record
 * (src/flows): `form` → `verify_email`. An address that already has an account gets the
 * same answer as a new one (no user is created; its owner gets a notice instead).
 */
export type ProfileField = Policies['signup']['profile_fields'][number];
export type SignupInput = { email: string; password: string } & Partial<Record<ProfileField, string>>;

export interface SignupTarget {
  applicationId: string;
  clientId: string;
  name: string;
  tenantId: string;
  signup: Policies['signup'];
}

const applicationOf = (ctx: AppContext, clientId: string) =>
  ctx.db
    .selectFrom('applications')
    .select(['id', 'client_id', 'name', 'tenant_id', 'signup_enabled'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();

/** Whether the application's own switch allows sign-up (its tenant's policy is the caller's to read). */
export const applicationSignupEnabled = async (ctx: AppContext, clientId: string): Promise<boolean> =>
  (await applicationOf(ctx, clientId))?.signup_enabled ?? false;

/** The application (id) and tenant a sign-up or verification API call names by `client_id`, when it names a known one. */
export async function applicationOfClient(ctx: AppContext, clientId: string | undefined) {
  return clientId ? applicationOf(ctx, clientId) : undefined;
}

/** Where a sign-up through this application lands, or 403 `signup_disabled` (tenant policy or application switch). */
export async function signupTarget(ctx: AppContext, clientId: string): Promise<SignupTarget> {
  const application = await applicationOf(ctx, clientId);
  if (!application) throw new AppError('signup_disabled', 'Sign-up is not available for this application');
  const { signup } = await tenantPolicies(ctx, application.tenant_id);
  if (!signup.enabled || !application.signup_enabled) {
    throw new AppError('signup_disabled', 'Sign-up is not available for this application');
  }
  return {
    applicationId: application.id,
    clientId: application.client_id,
    name: application.name,
    tenantId: application.tenant_id,
    signup,
  };
}

/** A new registration flow for an application (browser flows are bound to the browser's cookie). */
export async function startRegistration(
  ctx: AppContext,
  target: SignupTarget,
  options: { channel: FlowChannel; browser?: string | null; returnTo?: string | null; locale?: Locale | null },
): Promise<RegistrationFlow> {
  const { flow } = await createFlow(ctx.db, ctx, REGISTRATION, {
    state: 'form',
    channel: options.channel,
    tenantId: target.tenantId,
    applicationId: target.applicationId,
    browser: options.browser ?? null,
    returnTo: options.returnTo ?? null,
    locale: options.locale ?? null,
  });
  return flow;
}

/**
 * A registration flow by id, expired or not (`flow_not_found` when there is none): the
 * caller answers an expired one with a fresh one (renewRegistration).
 */
export const openRegistration = (ctx: AppContext, id: string) => openFlow(ctx.db, ctx, REGISTRATION, id);

/**
 * A fresh registration in place of an expired one: the same channel, tenant, application,
 * destination and language, bound to `browser` (a browser flow). The expired flow's
 * browser is the caller's to check first.
 */
export async function renewRegistration(ctx: AppContext, expired: RegistrationFlow, browser: string | null): Promise<RegistrationFlow> {
  const { flow } = await createFlow(ctx.db, ctx, REGISTRATION, {
    state: 'form',
    channel: expired.channel,
    tenantId: expired.tenant_id,
    applicationId: expired.application_id,
    returnTo: expired.return_to,
    locale: expired.locale,
    browser,
  });
  return flow;
}

/** The application a registration flow belongs to, still open for sign-up (policies may have changed since). */
export async function flowTarget(ctx: AppContext, flow: RegistrationFlow): Promise<SignupTarget> {
  const application = await ctx.db
    .selectFrom('applications')
    .select('client_id')
    .where('id', '=', flow.application_id ?? '00000000-0000-0000-0000-000000000000')
    .executeTakeFirst();
  if (!application) throw new AppError('signup_disabled', 'Sign-up is not available for this application');
  return signupTarget(ctx, application.client_id);
}

const FIELD_RULES: Record<ProfileField, RegExp> = {
  given_name: /^[^\n\r\t]{1,200}$/,
  family_name: /^[^\n\r\t]{1,200}$/,
  name: /^[^\n\r\t]{1,400}$/,
  username: /^[^@\s]{1,128}$/,
  phone: /^\+?[0-9 ()-]{3,32}$/,
};

/** The input a sign-up form may carry: email, password and the tenant's profile fields, checked. */
export function checkSignupInput(target: SignupTarget, input: SignupInput): SignupInput {
  const email = normalizeEmail(input.email ?? '');
  if (!input.password) throw new AppError('missing_field', 'A password is required', { field: 'password' });
  const checked: SignupInput = { email, password: input.password };
  for (const field of target.signup.profile_fields) {
    const value = input[field]?.trim() ?? '';
    if (!value) {
      if (target.signup.required_fields.includes(field)) {
        throw new AppError('missing_field', `"${field}" is required`, { field });
      }
      continue;
    }
    if (!FIELD_RULES[field].test(value)) throw new AppError('invalid_field', `"${field}" is not valid`, { field });
    checked[field] = value;
  }
  return checked;
}

/**
 * Submits the sign-up form: checks the input and the tenant's password policy, then creates
 * the user (home tenant and membership with the default role, email unverified) and sends
 * the verification email, or, when the address is taken, sends its owner a notice. Both
 * answers are the same: the registration flow in `verify_email` and a verification flow.
 */
export async function submitRegistration(
  ctx: AppContext,
  flow: RegistrationFlow,
  raw: SignupInput,
  actor: Actor,
  options: { browser?: string | null } = {},
): Promise<{ registration: RegistrationFlow; verification: VerificationFlow }> {
  if (flow.state !== 'form') throw new AppError('flow_state', 'This sign-up has been submitted already');
  const target = await flowTarget(ctx, flow);
  const input = checkSignupInput(target, raw);
  await assertPasswordAllowed(ctx, target.tenantId, input.password, input);
  // Hashed on both paths, so a taken address takes as long as a new one.
  const passwordHash = await ctx.passwords.hash(input.password);
  const locale = supportedLocale(flow.locale) ?? 'en';
  // A taken username is refused before the address is looked at, on both paths: otherwise a
  // taken username would answer differently for a new address and a taken one.
  if (input.username && (await ctx.db.selectFrom('users').select('id').where('username', '=', input.username).executeTakeFirst())) {
    throw new AppError('username_taken', 'This username is taken', { field: 'username' });
  }
  // The pre-user-registration actions may refuse the sign-up (their reason, 403 access_denied) or
  // set the new account's metadata; they see the input alike whether the address is taken or not.
  const pre = await runTrigger(ctx, 'pre-user-registration', {
    tenantId: target.tenantId,
    clientId: target.clientId,
    newUser: {
      email: input.email,
      username: input.username ?? null,
      name: input.name ?? null,
      given_name: input.given_name ?? null,
      family_name: input.family_name ?? null,
      phone_number: input.phone ?? null,
      email_verified: false,
    },
    request: { ip: actor.ip ?? undefined, user_agent: actor.userAgent ?? undefined, language: flow.locale ?? undefined },
  });
  if (pre.denied) throw new AppError('access_denied', pre.denied.reason);
  const taken = await findByEmail(ctx, input.email);
  let verification: VerificationFlow;
  if (taken) {
    verification = await noticeTaken(ctx, flow, taken, { email: input.email, locale, actor, browser: options.browser ?? null });
  } else {
    const user = await createSignedUpUser(ctx, target, input, passwordHash, actor, pre).catch(async (error) => {
      if (!isUniqueViolation(error, 'users_email_key')) throw error;
      return undefined; // a concurrent sign-up with the same address won: answer as for a taken one
    });
    if (!user) {
      const owner = (await findByEmail(ctx, input.email)) as User;
      verification = await noticeTaken(ctx, flow, owner, { email: input.email, locale, actor, browser: options.browser ?? null });
    } else {
      await runTrigger(ctx, 'post-user-registration', {
        tenantId: target.tenantId,
        userId: user.id,
        clientId: target.clientId,
        request: { ip: actor.ip ?? undefined, user_agent: actor.userAgent ?? undefined },
      });
      verification = await sendVerification(ctx, user, {
        channel: flow.channel,
        browser: options.browser ?? null,
        applicationId: flow.application_id,
        returnTo: flow.return_to,
        locale,
        tenantId: target.tenantId,
        actor,
        signsIn: true,
      });
    }
  }
  const registration = await advanceFlow(ctx.db, ctx, flow, {
    state: 'verify_email',
    email: input.email,
    data: { verification_flow: verification.id },
  });
  return { registration, verification };
}

const findByEmail = (ctx: AppContext, email: string) => ctx.db.selectFrom('users').selectAll().where(emailIs(email)).executeTakeFirst();

/** Notices to one address per hour, at most (the sign-up form must not become a way to flood a mailbox). */
const NOTICES_PER_HOUR = 3;

/**
 * The taken-address path: the owner gets a notice (at most a few an hour), and the caller
 * gets a verification flow like a new user's, with no link and no code behind it.
 */
async function noticeTaken(
  ctx: AppContext,
  flow: RegistrationFlow,
  owner: User,
  { email, locale, actor, browser }: { email: string; locale: Locale; actor: Actor; browser: string | null },
): Promise<VerificationFlow> {
  return ctx.db.transaction().execute(async (trx) => {
    // Counted under the owner's lock in this transaction: parallel sign-ups cannot all pass the cap.
    await lockFor(trx, `signup-notice:${owner.id}`);
    const notify = (await recentFlowCount(trx, ctx, { kind: 'verification', data: ['notice_to', owner.id] })) < NOTICES_PER_HOUR;
    const { flow: decoy } = await createFlow(trx, ctx, VERIFICATION, {
      state: 'sent',
      channel: flow.channel,
      tenantId: flow.tenant_id,
      applicationId: flow.application_id,
      email,
      browser,
      returnTo: flow.return_to,
      locale,
      // What the cap counts: the decoys that came with a notice to this owner.
      ...(notify && { data: { notice_to: owner.id } }),
    });
    if (notify) {
      await sendEmail(
        trx,
        ctx,
        {
          to: owner.email,
          tenantId: flow.tenant_id,
          locale: (owner.locale as Locale | null) ?? locale,
          name: owner.given_name ?? owner.name,
          subject: 'email.signup_taken.subject',
          paragraphs: [{ key: 'email.signup_taken.body' }, { key: 'email.signup_taken.advice' }],
          action: { label: 'common.back_to_sign_in', url: `${ctx.config.issuer}/account` },
        },
        translator,
      );
    }
    await recordAudit(trx, ctx, {
      action: 'iam.user.signedUp',
      actor,
      outcome: 'failure',
      tenantId: flow.tenant_id,
      target: { type: 'user', id: owner.id },
      details: { reason: 'email_taken', flow_id: flow.id, notified: notify },
    });
    return decoy;
  });
}

/** The role a new member gets: the tenant's own role of that name, else the global one; never one with restricted permissions. */
async function defaultRole(ctx: AppContext, target: SignupTarget) {
  const role = await roleNamed(ctx.db, target.tenantId, target.signup.default_role);
  if (!role || role.permissions.some(isRestricted)) {
    ctx.log.warn({ tenant: target.tenantId, role: target.signup.default_role }, 'Sign-up default role is unknown or restricted');
    throw new AppError('signup_disabled', 'Sign-up is not set up correctly for this organization');
  }
  return role;
}

async function createSignedUpUser(
  ctx: AppContext,
  target: SignupTarget,
  input: SignupInput,
  passwordHash: string,
  actor: Actor,
  actions: { userMetadata?: Record<string, unknown> | undefined; appMetadata?: Record<string, unknown> | undefined } = {},
): Promise<User> {
  const role = await defaultRole(ctx, target);
  const { history } = await passwordPolicyFor(ctx, target.tenantId);
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const user = await trx
      .insertInto('users')
      .values({
        id: ctx.ids.next(),
        email: input.email,
        username: input.username ?? null,
        phone: input.phone ?? null,
        given_name: input.given_name ?? null,
        family_name: input.family_name ?? null,
        name: input.name ?? null,
        email_verified: false,
        self_registered: true,
        status: 'active',
        home_tenant_id: target.tenantId,
        password_hash: passwordHash,
        user_metadata: JSON.stringify(actions.userMetadata ?? {}),
        app_metadata: JSON.stringify(actions.appMetadata ?? {}),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch((error) => {
        if (isUniqueViolation(error, 'users_username_key')) throw new AppError('username_taken', 'This username is taken');
        throw error;
      });
    await rememberPassword(trx, ctx, user.id, passwordHash, history);
    const self: Actor = { ...actor, type: 'user', id: user.id };
    const audit = { actor: self, tenantId: target.tenantId, target: { type: 'user', id: user.id } };
    await recordAudit(trx, ctx, {
      action: 'iam.user.created',
      ...audit,
      details: { email: user.email, status: user.status, source: 'signup' },
    });
    await trx
      .insertInto('memberships')
      .values({ tenant_id: target.tenantId, user_id: user.id, created_at: now, updated_at: now })
      .execute();
    await trx.insertInto('membership_roles').values({ tenant_id: target.tenantId, user_id: user.id, role_id: role.id }).execute();
    await recordAudit(trx, ctx, { action: 'iam.membership.created', ...audit, details: { roles: [role.name], permissions: [] } });
    await recordAudit(trx, ctx, {
      action: 'iam.user.signedUp',
      ...audit,
      details: { application_id: target.applicationId, client_id: target.clientId, role: role.name },
    });
    return user;
  });
}
