import { sessionById, sessionFromToken } from '../../authn/sessions/sessions.js';
import { effectivePermissions, type Grants } from '../../directory/permissions/effective.js';
import type { AppContext } from '../../platform/context.js';
import type { User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { looksLikeJwt } from '../../platform/http/guards.js';
import type { Caller } from '../../platform/ports/authenticator.js';
import { isGrantLive } from '../engine/adapter.js';
import { isAccessTokenDenied } from '../engine/denied-tokens.js';
import { type AccessTokenClaims, isMachineToken, verifyAccessToken } from './access-tokens.js';

/** The caller of an access token (the authenticator's, src/platform/ports/authenticator.ts), with its roles and claims. */
export interface TokenCaller extends Caller {
  grants: Grants;
  claims: AccessTokenClaims;
}

/**
 * Resolves an access token to its caller, checking on every request (no cache) that the
 * session is live, the user active, the tenant active and the membership still there, so
 * an incident action takes effect on the admin API at once (docs/api.md#credentials). Permissions are
 * computed afresh, not read from the token, so a removed role stops working at once too.
 */
export async function callerFromAccessToken(ctx: AppContext, token: string, touch = true): Promise<TokenCaller> {
  const claims = await verifyAccessToken(ctx, token);
  // Revoked at /oauth/revoke (decision 391): the admin API honours the deny list as introspection does.
  if (claims.jti && (await isAccessTokenDenied(ctx.db, claims.jti))) throw new AppError('invalid_token', 'This access token was revoked');
  if (isMachineToken(claims)) return machineCaller(ctx, claims);
  const active = claims.sid ? await sessionById(ctx, claims.sid, touch) : await userOfGrant(ctx, claims);
  if (!active || active.user.id !== claims.sub) throw new AppError('invalid_token', 'The session behind this token has ended');
  const tenant = await ctx.db.selectFrom('tenants').selectAll().where('id', '=', claims.org_id).executeTakeFirst();
  if (tenant?.status !== 'active') throw new AppError('invalid_token', 'The organization of this token is not active');
  const grants = await effectivePermissions(ctx.db, active.user.id, tenant.id);
  if (!grants) throw new AppError('invalid_token', 'You are no longer a member of this organization');
  return { ...active, tenant, grants, held: new Set(grants.permissions), claims };
}

/**
 * A machine application's own token for the admin API (decision 400), checked on every
 * request as a user's is: the application still exists in the token's tenant, the tenant is
 * active, and the application still holds its admin grant, whose permissions (as they are
 * now) are what it holds. Deleting the grant or the application ends its access at once.
 */
async function machineCaller(ctx: AppContext, claims: AccessTokenClaims): Promise<TokenCaller> {
  const row = await ctx.db
    .selectFrom('applications as a')
    .innerJoin('application_admin_grants as g', 'g.application_id', 'a.id')
    .innerJoin('tenants as t', 't.id', 'a.tenant_id')
    .select(['a.id', 'a.client_id', 'a.name', 'a.tenant_id', 'g.permissions'])
    .where('a.client_id', '=', claims.sub)
    .where('t.status', '=', 'active')
    .executeTakeFirst();
  if (row?.tenant_id !== claims.org_id) throw new AppError('invalid_token', 'This application no longer holds a grant of the admin API');
  const tenant = await ctx.db.selectFrom('tenants').selectAll().where('id', '=', row.tenant_id).executeTakeFirstOrThrow();
  const permissions = [...new Set(row.permissions)].sort();
  return {
    client: { id: row.id, client_id: row.client_id, name: row.name },
    tenant,
    held: new Set(permissions),
    grants: { roles: [], groups: [], permissions },
    claims,
  };
}

/** The active user behind a token of the OIDC flows, while its grant lives (not revoked, not expired). */
async function userOfGrant(ctx: AppContext, claims: AccessTokenClaims): Promise<{ user: User } | undefined> {
  if (!claims.gid || !(await isGrantLive(ctx.db, claims.gid, ctx.clock.now(), { accountId: claims.sub, clientId: claims.client_id }))) {
    return undefined;
  }
  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', claims.sub).where('status', '=', 'active').executeTakeFirst();
  return user && { user };
}

export type Introspection =
  | { active: false }
  | {
      active: true;
      token_type: 'access_token' | 'session';
      sub: string;
      sid?: string;
      /** The user's email; none for a machine application's token. */
      username?: string;
      iss: string;
      exp: number;
      iat: number;
      client_id?: string;
      aud?: string;
      jti?: string;
      org_id?: string;
      org_name?: string;
      roles?: string[];
      permissions?: string[];
    };

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

/** RFC 7662 for our own tokens: inactive when expired, revoked, or its user, session or tenant is not active. */
export async function introspect(ctx: AppContext, token: string): Promise<Introspection> {
  try {
    if (looksLikeJwt(token)) {
      // Roles and permissions as they are now, not as the token says: a resource server
      // that asks gets the same answer as the admin API's own guard.
      const { claims, user, grants } = await callerFromAccessToken(ctx, token, false);
      return {
        active: true,
        token_type: 'access_token',
        sub: claims.sub,
        ...(claims.sid && { sid: claims.sid }),
        ...(user && { username: user.email }),
        iss: ctx.config.tokenIssuer,
        exp: claims.exp ?? 0,
        iat: claims.iat ?? 0,
        client_id: claims.client_id,
        aud: ctx.config.issuer,
        ...(claims.jti && { jti: claims.jti }),
        org_id: claims.org_id,
        org_name: claims.org_name,
        roles: grants.roles,
        permissions: grants.permissions,
      };
    }
    const active = await sessionFromToken(ctx, token, false);
    if (!active) return { active: false };
    const { session, user } = active;
    const exp = Math.min(session.expires_at.getTime(), session.idle_expires_at.getTime());
    return {
      active: true,
      token_type: 'session',
      sub: user.id,
      sid: session.id,
      username: user.email,
      iss: ctx.config.tokenIssuer,
      exp: seconds(new Date(exp)),
      iat: seconds(session.created_at),
    };
  } catch (error) {
    if (error instanceof AppError) return { active: false };
    throw error;
  }
}
