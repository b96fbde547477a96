import { recordAudit } from '../../platform/audit/record.js';
import { denyAccessToken } from './denied-tokens.js';
import { authenticateClient, type IntrospectionAnswer, verifiedPayload } from './introspection.js';
import type { OidcContext } from './lookups.js';

/**
 * RFC 7009 for our JWT access tokens, which the engine does not store (decision 391): the
 * caller authenticates as a client; a token of ours issued to that client has its `jti`
 * listed until it expires, so introspection answers `active: false` from then on. Anything
 * else (not ours, expired, another client's) is answered 200 as RFC 7009 §2.2 says, and
 * changes nothing: a client revokes only its own tokens.
 */
export async function revokeJwt(
  ctx: OidcContext,
  form: URLSearchParams,
  basicAuthorization: string | undefined,
  actor: { ip: string | null; userAgent: string | null },
): Promise<IntrospectionAnswer> {
  const caller = await authenticateClient(ctx, form, basicAuthorization);
  if ('error' in caller) return { status: 401, body: caller };
  const verified = await verifiedPayload(ctx, form.get('token') as string);
  const payload = verified?.payload;
  if (!payload || payload.client_id !== caller.clientId || typeof payload.jti !== 'string' || typeof payload.exp !== 'number') {
    return { status: 200, body: {} };
  }
  const { jti, exp, sub } = payload;
  await ctx.db.transaction().execute(async (trx) => {
    await denyAccessToken(trx, { jti, clientId: caller.clientId, expiresAt: new Date(exp * 1000) });
    await recordAudit(trx, ctx, {
      action: 'iam.token.revoked',
      actor: { type: 'client', id: caller.clientId, ...actor },
      tenantId: caller.tenantId,
      target: typeof sub === 'string' && sub !== caller.clientId ? { type: 'user', id: sub } : { type: 'application', id: caller.clientId },
      details: { jti, client_id: caller.clientId, token_type: 'access_token' },
    });
  });
  return { status: 200, body: {} };
}
