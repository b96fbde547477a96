import type { AppContext } from '../../platform/context.js';
import { randomToken, sha256 } from '../../platform/crypto/secrets.js';
import { AppError } from '../../platform/errors.js';

/** An mfa_token lives five minutes (Auth0's lifetime) and is exchanged once. */
export const MFA_TOKEN_TTL_MS = 5 * 60_000;
const PREFIX = 'ghmfa';

/** What the password step asked for, replayed when the second factor completes it. */
export interface MfaTokenRequest {
  scope?: string;
  audience?: string;
  remember_me?: boolean;
  /** How the first step signed in (RFC 8176 `amr`); absent: a password. Passwordless sign-in sets it. */
  amr?: string[];
}

export interface MfaTokenState {
  userId: string;
  /** The application it was issued to; null for POST /api/v1/session. */
  clientId: string | null;
  /** The tenant the sign-in is for (the application's); null: the user's home tenant. */
  tenantId: string | null;
  request: MfaTokenRequest;
  /** Why it was issued: the user has a factor to answer, or must enrol one first. */
  need: 'challenge' | 'enrol';
}

/** Issues an mfa_token after a right password: 256 random bits, stored only as SHA-256. */
export async function issueMfaToken(ctx: AppContext, state: MfaTokenState): Promise<string> {
  const token = randomToken(PREFIX);
  const now = ctx.clock.now();
  await ctx.db
    .insertInto('mfa_tokens')
    .values({
      token_hash: sha256(token),
      user_id: state.userId,
      client_id: state.clientId,
      tenant_id: state.tenantId,
      request: JSON.stringify({ ...state.request, need: state.need }),
      expires_at: new Date(now.getTime() + MFA_TOKEN_TTL_MS),
      created_at: now,
    })
    .execute();
  return token;
}

/**
 * The state behind a live mfa_token, for the `/mfa/*` calls between the password and the
 * exchange (which may reuse it). Malformed, unknown and exchanged tokens are
 * `invalid_mfa_token`; an expired one `mfa_token_expired`; one of another application
 * (`clientId` given and different) is unknown to it.
 */
export async function readMfaToken(ctx: AppContext, token: unknown, clientId?: string | null): Promise<MfaTokenState> {
  if (typeof token !== 'string' || !token.startsWith(`${PREFIX}_`) || token.length > 100) {
    throw new AppError('invalid_mfa_token', 'Malformed mfa_token');
  }
  const row = await ctx.db.selectFrom('mfa_tokens').selectAll().where('token_hash', '=', sha256(token)).executeTakeFirst();
  if (!row || row.used_at || (clientId !== undefined && row.client_id !== clientId)) {
    throw new AppError('invalid_mfa_token', 'Invalid mfa_token');
  }
  if (row.expires_at <= ctx.clock.now()) throw new AppError('mfa_token_expired', 'mfa_token is expired');
  const { need, ...request } = row.request as unknown as MfaTokenRequest & { need: MfaTokenState['need'] };
  return { userId: row.user_id, clientId: row.client_id, tenantId: row.tenant_id, request, need };
}

/** Spends the token (one conditional update: of two exchanges racing, one wins). */
export async function consumeMfaToken(ctx: AppContext, token: string): Promise<void> {
  const now = ctx.clock.now();
  const spent = await ctx.db
    .updateTable('mfa_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', sha256(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning('user_id')
    .executeTakeFirst();
  if (!spent) throw new AppError('invalid_mfa_token', 'Invalid mfa_token');
}

/** Removes expired tokens (called from the periodic sweep). */
export async function pruneMfaTokens(ctx: AppContext): Promise<void> {
  const now = ctx.clock.now();
  await ctx.db.deleteFrom('mfa_tokens').where('expires_at', '<', now).execute();
  // Challenges stay an hour: the send limit counts them (src/mfa/oob.ts).
  await ctx.db
    .deleteFrom('mfa_oob_challenges')
    .where('expires_at', '<', now)
    .where('created_at', '<', new Date(now.getTime() - 3_600_000))
    .execute();
  await ctx.db.deleteFrom('webauthn_challenges').where('expires_at', '<', now).execute();
}
