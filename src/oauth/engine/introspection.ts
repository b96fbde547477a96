import { decodeJwt, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { clientSecretDigest, constantTimeEqual } from '../../platform/crypto/secrets.js';
import { isUuid } from '../../platform/ids.js';
import { SIGNING_ALGS } from '../../platform/ports/signing-keys.js';
import { verifierFor } from '../tokens/access-tokens.js';
import { isGrantLive } from './adapter.js';
import { type ApiInfo, clientGrantPermissions } from './api-queries.js';
import { parseBasicCredentials } from './clients.js';
import { isAccessTokenDenied } from './denied-tokens.js';
import type { OidcContext } from './lookups.js';

/** An RFC 7662 answer, or an RFC 6749 error for the caller's client authentication. */
export type IntrospectionAnswer =
  | { status: 200; body: Record<string, unknown> }
  | { status: 400 | 401; body: { error: string; error_description: string } };

const INACTIVE = { status: 200, body: { active: false } } as const;

interface Caller {
  clientId: string;
  tenantId: string;
  confidential: boolean;
}

/**
 * Introspection of our JWT access tokens (the engine introspects only the tokens it
 * stores). A JWT is active while its signature, issuer and expiry hold, its user is active
 * and its grant lives (so disabling a user, reusing a rotated refresh token or revoking
 * one answers `active: false` at once), and the caller may see it: its own tokens, or, for
 * a confidential client, those of any application of its tenant (decision 46). A token
 * for an API is active only when the API, the client and the caller share a tenant, and
 * the client still holds its grant for the API (a machine token) or the user's grant with
 * that client lives (a user token): an HS256 API's secret, which its tenant's
 * administrators hold, signs for that tenant's applications and nobody else's (decision 200).
 */
export async function introspectJwt(
  ctx: OidcContext,
  form: URLSearchParams,
  basicAuthorization: string | undefined,
): Promise<IntrospectionAnswer> {
  const caller = await authenticateClient(ctx, form, basicAuthorization);
  if ('error' in caller) return { status: 401, body: caller };
  const verified = await verifiedPayload(ctx, form.get('token') as string);
  const payload = verified?.payload;
  if (!payload || typeof payload.client_id !== 'string') return INACTIVE;

  if (payload.client_id !== caller.clientId) {
    const owner = await ctx.lookups.client(payload.client_id);
    if (!caller.confidential || owner?.gatehouse_tenant_id !== caller.tenantId) return INACTIVE;
  }
  if (!(await isLive(ctx, payload, verified.api))) return INACTIVE;
  const { active: _ignored, ...claims } = payload as JWTPayload & { active?: unknown };
  // RFC 9449 §6.2: a token bound to a DPoP key is a DPoP token, and its `cnf` is in the answer.
  const tokenType = (claims as { cnf?: { jkt?: unknown } }).cnf?.jkt ? 'DPoP' : 'Bearer';
  return { status: 200, body: { active: true, token_type: tokenType, ...claims } };
}

export async function isLive(ctx: OidcContext, payload: JWTPayload, api: ApiInfo | undefined): Promise<boolean> {
  // Revoked at /oauth/revoke (decision 391): for introspection and the token exchange alike.
  if (typeof payload.jti === 'string' && (await isAccessTokenDenied(ctx.db, payload.jti))) return false;
  const clientId = payload.client_id as string;
  const client = await ctx.lookups.client(clientId);
  if (!client) return false; // deleted, or its tenant suspended
  const clientTenantId = client.gatehouse_tenant_id as string;
  // An API's tokens are for its own tenant's applications (decision 200).
  if (api && api.tenantId !== clientTenantId) return false;
  // A machine token: while the client holds its grant for the API, or for the admin API its admin grant (decision 400; read now, not cached).
  if (payload.sub === clientId) {
    if (api) return (await clientGrantPermissions(ctx.db, clientId, api.id)) !== undefined;
    const grant = await ctx.db
      .selectFrom('application_admin_grants as g')
      .innerJoin('applications as a', 'a.id', 'g.application_id')
      .select('g.application_id')
      .where('a.client_id', '=', clientId)
      .executeTakeFirst();
    return grant !== undefined;
  }
  // A user's token: the user active, the user's grant with this client alive, and, unless a
  // platform application acts outside any organization, the user still a member of an
  // active organization (the token's, or the application's tenant).
  if (typeof payload.sub !== 'string' || !isUuid(payload.sub) || typeof payload.gid !== 'string') return false;
  const tenantId = typeof payload.org_id === 'string' ? payload.org_id : clientTenantId;
  if (!isUuid(tenantId)) return false;
  const anyUser = tenantId === clientTenantId && (await ctx.lookups.isPlatform(clientTenantId));
  let query = ctx.db.selectFrom('users as u').select('u.id').where('u.id', '=', payload.sub).where('u.status', '=', 'active');
  if (!anyUser) {
    query = query
      .innerJoin('memberships as m', 'm.user_id', 'u.id')
      .innerJoin('tenants as t', 't.id', 'm.tenant_id')
      .where('m.tenant_id', '=', tenantId)
      .where('t.status', '=', 'active');
  }
  const member = await query.executeTakeFirst();
  return member !== undefined && (await isGrantLive(ctx.db, payload.gid, ctx.clock.now(), { accountId: payload.sub, clientId }));
}

/**
 * The JWT's claims if it is ours: signed by a published key (or the HS256 secret of its
 * API), our issuer, not expired; with the API it is for (none: Gatehouse's own API).
 */
export async function verifiedPayload(ctx: OidcContext, token: string): Promise<{ payload: JWTPayload; api?: ApiInfo } | undefined> {
  let audience: unknown;
  try {
    audience = apiAudienceOf(ctx, decodeJwt(token).aud);
  } catch {
    return undefined;
  }
  if (typeof audience !== 'string') return undefined;
  const api = await ctx.lookups.api(audience);
  const options = { issuer: ctx.config.tokenIssuer, audience, typ: 'at+jwt', currentDate: ctx.clock.now() };
  try {
    const { payload } = api?.secret
      ? await jwtVerify(token, api.secret, { ...options, algorithms: ['HS256'] })
      : await jwtVerify(token, verifierFor(await ctx.keys.jwks()), { ...options, algorithms: [...SIGNING_ALGS] });
    return { payload, ...(api && { api }) };
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) return undefined;
    throw error;
  }
}

/**
 * The API a token is for: its one audience, or, with `/userinfo` as its second (a token
 * asked for with `openid`, decision 389), the other one.
 */
export function apiAudienceOf(ctx: OidcContext, aud: unknown): string | undefined {
  if (typeof aud === 'string') return aud;
  if (!Array.isArray(aud) || aud.length !== 2 || !aud.includes(userinfoAudience(ctx))) return undefined;
  const other = aud.find((value) => value !== userinfoAudience(ctx));
  return typeof other === 'string' ? other : undefined;
}

/** Auth0's second audience of an API token asked for with `openid`: `{issuer}/userinfo`. */
export const userinfoAudience = (ctx: OidcContext): string => `${ctx.config.issuer}/userinfo`;

/** Client authentication as the engine does it: Basic or the body, a confidential client's secret compared as its digest. */
export async function authenticateClient(
  ctx: OidcContext,
  form: URLSearchParams,
  basicAuthorization: string | undefined,
): Promise<Caller | { error: string; error_description: string }> {
  const invalid = { error: 'invalid_client', error_description: 'client authentication failed' };
  let clientId = form.get('client_id');
  let secret = form.get('client_secret');
  if (basicAuthorization?.toLowerCase().startsWith('basic ')) {
    const credentials = parseBasicCredentials(basicAuthorization);
    if (!credentials) return invalid;
    ({ clientId, secret } = credentials);
  }
  if (!clientId) return invalid;
  const app = await ctx.lookups.client(clientId);
  if (!app) return invalid;
  const digest = app.client_secret as string | undefined;
  if (digest) {
    const given = Buffer.from(secret ? clientSecretDigest(ctx.masterKey, secret) : '');
    if (!constantTimeEqual(given, Buffer.from(digest))) return invalid;
  } else if (secret) {
    return invalid;
  }
  return { clientId, tenantId: app.gatehouse_tenant_id as string, confidential: digest !== undefined };
}
