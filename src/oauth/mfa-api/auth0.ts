import { factorDestination, factorsOf, maskDestination } from '../../authn/mfa/factors.js';
import type { MfaTokenState } from '../../authn/mfa/mfa-tokens.js';
import type { AppContext } from '../../platform/context.js';
import { clientSecretDigest, constantTimeEqual } from '../../platform/crypto/secrets.js';
import { AppError, notFound } from '../../platform/errors.js';

/**
 * Auth0's view of factors (the MFA API for the password grant): authenticator ids are
 * `<kind>|<factor id>` (`totp|…`, `sms|…`, `email|…`, `recovery-code|…`); a bare factor id
 * is accepted too.
 */
const PREFIX = { otp: 'totp', email: 'email', sms: 'sms' } as const;

export interface Authenticator {
  id: string;
  authenticator_type: 'otp' | 'oob' | 'recovery-code';
  active: boolean;
  oob_channel?: 'sms' | 'email';
  name?: string;
}

export async function authenticators(ctx: AppContext, userId: string): Promise<Authenticator[]> {
  const list: Authenticator[] = [];
  for (const factor of await factorsOf(ctx.db, userId)) {
    if (factor.type === 'webauthn') continue; // passkeys answer in the hosted pages, not through this API
    const id = `${PREFIX[factor.type]}|${factor.id}`;
    if (factor.type === 'otp')
      list.push({ id, authenticator_type: 'otp', active: factor.confirmed, ...(factor.name && { name: factor.name }) });
    else
      list.push({
        id,
        authenticator_type: 'oob',
        active: factor.confirmed,
        oob_channel: factor.type,
        name: maskDestination(factor.type, factorDestination(ctx, factor)),
      });
  }
  const codes = await ctx.db
    .selectFrom('mfa_recovery_codes')
    .select('id')
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .limit(1)
    .executeTakeFirst();
  if (codes && list.some((a) => a.active)) list.push({ id: `recovery-code|${userId}`, authenticator_type: 'recovery-code', active: true });
  return list;
}

/** The factor id inside an authenticator id (`sms|<uuid>` or a bare uuid), or not_found. */
export function factorIdOf(authenticatorId: string): string {
  const id = authenticatorId.includes('|') ? authenticatorId.slice(authenticatorId.indexOf('|') + 1) : authenticatorId;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw notFound('Authenticator');
  return id.toLowerCase();
}

/**
 * The client of an mfa_token must be the one calling (/mfa/challenge names it, as the token
 * endpoint does), and a confidential one must present its secret (compared as its digest).
 */
export async function assertTokenClient(
  ctx: AppContext,
  state: MfaTokenState,
  clientId: string | undefined,
  clientSecret: string | undefined,
): Promise<void> {
  if (state.clientId === null) {
    if (clientId !== undefined) throw new AppError('invalid_mfa_token', 'Invalid mfa_token');
    return;
  }
  if (clientId !== state.clientId) throw new AppError('invalid_mfa_token', 'Invalid mfa_token');
  const app = await ctx.db.selectFrom('applications').select('client_secret_digest').where('client_id', '=', clientId).executeTakeFirst();
  if (!app) throw new AppError('unauthorized', 'Client authentication failed');
  if (app.client_secret_digest === null) return;
  const presented = clientSecret ? clientSecretDigest(ctx.masterKey, clientSecret) : '';
  if (!constantTimeEqual(Buffer.from(presented), Buffer.from(app.client_secret_digest))) {
    throw new AppError('unauthorized', 'Client authentication failed');
  }
}
