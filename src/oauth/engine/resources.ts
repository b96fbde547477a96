import type { KeyObject } from 'node:crypto';
import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import { apiAudience } from '../tokens/access-tokens.js';
import { ACCESS_TOKEN_TTL_S } from '../tokens/lifetimes.js';
import { gatehouseClient } from './clients.js';
import type { OidcContext } from './lookups.js';
import { permissionsOf } from './prefetch.js';

/**
 * An API as oidc-provider's resource server: JWT access tokens for its audience, signed
 * with the API's algorithm (RS256/ES256 with our keys, HS256 with its shared secret).
 * With RBAC on, once the engine knows the user (at the token endpoint), the scopes a token
 * may carry are narrowed to the API permissions the user holds (Auth0's semantics).
 */
export async function resourceServer(
  ctx: OidcContext,
  koa: KoaContextWithOIDC,
  identifier: string,
  client: { metadata(): Record<string, unknown> },
  /** A machine application's own token, whose grant the client-credentials grant has checked (decision 400). */
  machine = false,
): Promise<ResourceServer> {
  const clientTenantId = gatehouseClient(client).tenantId;
  if (identifier === apiAudience(ctx)) {
    // Gatehouse's own admin API (docs/security.md#v4-access-control), for platform applications only: a tenant's
    // application must not obtain its users' administrative power. A machine application
    // acts with its own admin grant instead, given by an administrator of its tenant.
    if (!machine && !(await ctx.lookups.isPlatform(clientTenantId)))
      throw new errors.InvalidTarget('this application may not ask for the Gatehouse API');
    return {
      scope: '',
      audience: identifier,
      accessTokenTTL: ACCESS_TOKEN_TTL_S,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    };
  }
  const api = await ctx.lookups.api(identifier);
  // Another tenant's API does not exist for this application (as for client grants).
  if (api?.tenantId !== clientTenantId) throw new errors.InvalidTarget(`no API has the identifier ${JSON.stringify(identifier)}`);
  let scopes = api.permissions;
  const account = koa.oidc.entities.Account as { accountId: string } | undefined;
  if (api.rbac && account) {
    const organization = await ctx.lookups.grantOrganization((koa.oidc.entities.Grant as { jti?: string } | undefined)?.jti);
    const held = new Set((await permissionsOf(ctx.db, koa, account.accountId, organization?.id ?? clientTenantId, api.id)).api);
    scopes = scopes.filter((scope) => held.has(scope));
  }
  return {
    scope: scopes.join(' '),
    audience: api.identifier,
    accessTokenTTL: api.tokenLifetime,
    accessTokenFormat: 'jwt',
    jwt: { sign: api.alg === 'HS256' ? { alg: 'HS256', key: api.secret as KeyObject } : { alg: api.alg } },
  };
}
