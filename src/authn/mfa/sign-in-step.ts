import type { AppContext } from '../../platform/context.js';
import { seal, unseal } from '../../platform/crypto/secrets.js';
import type { User } from '../../platform/db/schema.js';
import { ACR_MULTI_FACTOR, listFactors, type MfaTarget, mfaClaims, mfaNeed, mfaNeedAfter } from './index.js';

/**
 * The MFA step of a browser sign-in (the hosted sign-in and the account page): what a
 * sign-in into an application still needs after the password, and the server-side state
 * between the password and the second factor (decision 110). The state is keyed by the
 * flow's id (the engine's interaction uid, itself bound to the browser by its cookie), so
 * the finish step reads what was proved from here, never from the form.
 */

export type StepNeed = 'none' | 'challenge' | 'enrol';

/** The step's lifetime: long enough to open an authenticator app or a mailbox. */
const STEP_TTL_MS = 15 * 60_000;

/** True when `acr_values` (space-separated) asks for multi-factor authentication (a step-up). */
export const asksForMfa = (acrValues: string | undefined): boolean => (acrValues ?? '').split(' ').includes(ACR_MULTI_FACTOR);

/**
 * What a browser sign-in still needs: nothing when the session already did MFA with a
 * factor type that counts for the target (decision 198); else what the policies that apply
 * say (decision 190: the user's home tenant's, the target organization's, the
 * application's tenant's and its own, the strictest); and when the
 * application asks for MFA with `acr_values`, a challenge (or an enrolment for a user
 * without a factor) even where the policy would not ask.
 */
export async function signInNeed(
  ctx: AppContext,
  user: Pick<User, 'id' | 'home_tenant_id'>,
  target: MfaTarget,
  done: { amr: string[]; acrValues?: string | undefined },
): Promise<StepNeed> {
  const need = await mfaNeedAfter(ctx, user, target, done.amr);
  if (need !== 'none' || done.amr.includes('mfa') || !asksForMfa(done.acrValues)) return need;
  return (await hasSecondFactor(ctx, user.id)) ? 'challenge' : 'enrol';
}

export async function hasSecondFactor(ctx: AppContext, userId: string): Promise<boolean> {
  return (await listFactors(ctx, userId)).some((f) => f.confirmed && f.type !== 'recovery-code');
}

/** The `login` of the engine's interaction result: who, and how (amr, acr). */
export function loginClaims(amr: string[]): { amr: string[]; acr?: string } {
  return mfaClaims(amr);
}

export interface MfaStep {
  uid: string;
  userId: string;
  /** The live session a step-up upgrades; null when the sign-in opens a new one. */
  sessionId: string | null;
  need: 'challenge' | 'enrol';
  /** What has been proved, once done (`pwd`, the factor's method, `mfa`). */
  amr: string[];
  done: boolean;
  /** The TOTP enrolment in progress (unsealed). */
  pending?: PendingTotp;
  /** The federation connection the first step signed in through (null: none). */
  connectionId: string | null;
}

export interface PendingTotp {
  factorId: string;
  secret: string;
  otpauthUri: string;
}

const PENDING_CONTEXT = (uid: string) => `mfa-step-pending:${uid}`;

/** Keeps the TOTP enrolment of a step (sealed: it holds the secret) until the step ends. */
export async function keepPending(ctx: AppContext, uid: string, pending: PendingTotp): Promise<void> {
  const sealed = seal(ctx.masterKey, JSON.stringify(pending), PENDING_CONTEXT(uid));
  await ctx.db.updateTable('mfa_interactions').set({ pending_sealed: sealed }).where('uid', '=', uid).execute();
}

/** Starts (or restarts) the MFA step of a flow, after the password or for a session's step-up. */
export async function beginStep(
  ctx: AppContext,
  step: {
    uid: string;
    userId: string;
    sessionId: string | null;
    need: 'challenge' | 'enrol';
    firstAmr?: string[];
    /** The federation connection the first step signed in through, for the session the step opens. */
    connectionId?: string | undefined;
  },
): Promise<void> {
  const now = ctx.clock.now();
  const fields = {
    user_id: step.userId,
    session_id: step.sessionId,
    need: step.need,
    // Until the step is done: how the first step proved the user (default: the password).
    amr: step.firstAmr ?? ([] as string[]),
    done: false,
    pending_sealed: null,
    connection_id: step.connectionId ?? null,
    expires_at: new Date(now.getTime() + STEP_TTL_MS),
  };
  await ctx.db.deleteFrom('mfa_interactions').where('expires_at', '<', now).execute();
  await ctx.db
    .insertInto('mfa_interactions')
    .values({ uid: step.uid, ...fields })
    .onConflict((oc) => oc.column('uid').doUpdateSet(fields))
    .execute();
}

/** The live step of a flow, if any. */
export async function loadStep(ctx: AppContext, uid: string): Promise<MfaStep | undefined> {
  const row = await ctx.db
    .selectFrom('mfa_interactions')
    .selectAll()
    .where('uid', '=', uid)
    .where('expires_at', '>', ctx.clock.now())
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    uid: row.uid,
    userId: row.user_id,
    sessionId: row.session_id,
    need: row.need,
    amr: row.amr,
    done: row.done,
    connectionId: row.connection_id,
    ...(row.pending_sealed && { pending: JSON.parse(unseal(ctx.masterKey, row.pending_sealed, PENDING_CONTEXT(uid))) as PendingTotp }),
  };
}

/**
 * Records that the second factor was proved (what the finish step will read). A step that
 * raises a live session adds only the factor (the session's own `amr` says how it began: a
 * password, or a passwordless code); a step after the password form adds `pwd` too.
 */
export async function completeStep(ctx: AppContext, uid: string, methods: string[]): Promise<string[]> {
  const row = await ctx.db.selectFrom('mfa_interactions').select(['session_id', 'amr']).where('uid', '=', uid).executeTakeFirst();
  const first = row?.amr?.length ? row.amr : ['pwd'];
  const { amr } = mfaClaims(row?.session_id ? methods : [...first, ...methods]);
  await ctx.db.updateTable('mfa_interactions').set({ amr, done: true, pending_sealed: null }).where('uid', '=', uid).execute();
  return amr;
}

/** Ends a step (finished, or replaced by a new sign-in). */
export async function endStep(ctx: AppContext, uid: string): Promise<void> {
  await ctx.db.deleteFrom('mfa_interactions').where('uid', '=', uid).execute();
}

/**
 * Whether a flow that proved only the mailbox or the phone (a reset, an invitation, a
 * passwordless link) may open a session by itself (decision 156): only for a user who has
 * no second factor and whose home tenant does not require one. Anyone else signs in
 * through a step that asks for the factor.
 */
export async function mayOpenSession(ctx: AppContext, user: User): Promise<boolean> {
  return (await mfaNeed(ctx, user)) === 'none' && !(await hasSecondFactor(ctx, user.id));
}
