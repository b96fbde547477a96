import { decodeJwt } from 'jose';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { resolveScope, type Scope } from '../../directory/permissions/effective.js';
import { assertManages } from '../../directory/users/manage.js';
import { AppError } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import type { Caller } from '../../platform/ports/authenticator.js';
import { openImpersonation } from '../tokens/impersonations.js';
import { auditBeforeAnswer } from './audited.js';
import { gatehouseClient } from './clients.js';
import { actorOf } from './grants.js';
import type { OidcContext } from './lookups.js';
import { type EngineClient, exchangeAudiences, type ImpersonationRequest, issueExchangedToken, TOKEN_TYPES } from './token-exchange.js';

/** The restricted permission an administrator needs to impersonate (decision 432). */
export const IMPERSONATE = 'iam.user.impersonate';

/** One answer for a user who does not exist, is not active, or whose tenant is not active. */
const noSuchUser = () => new errors.InvalidGrant('no active user with this id');

/**
 * Impersonation for support (decision 432): the support tool (a confidential platform
 * application, of the system tenant, listing the API among its `impersonation_audiences`)
 * sends the administrator's own access token for Gatehouse's API, issued to this same
 * application, as `actor_token` and the user's id as `subject_token` (or, as Keycloak's
 * clients do, the administrator's token as `subject_token` and the user's id as
 * `requested_subject`). A tenant's application is refused before the token is looked at,
 * and a token issued to any other client (the console's session token included) is
 * refused: the administrator's token never needs to reach a tenant's application. The
 * administrator must hold `iam.user.impersonate` (restricted: only in the system tenant)
 * and outrank the user as for changing the account (decision 180). The token acts in the
 * user's home tenant (its `org_id`), names the administrator in `act`, ends with the
 * impersonation's time box (at most 15 minutes), and both the start and every token are
 * audited there; refusals of a known administrator are audited too.
 */
export async function impersonate(
  provider: Provider,
  ctx: OidcContext,
  koa: KoaContextWithOIDC,
  audience: string,
  request: ImpersonationRequest,
): Promise<void> {
  const client = koa.oidc.client as EngineClient;
  const clientTenantId = gatehouseClient(client).tenantId;
  // Only a platform application (made by a system administrator) may carry an administrator's token.
  if (!(await ctx.lookups.isPlatform(clientTenantId))) {
    throw new errors.UnauthorizedClient('impersonation is for platform applications (of the system tenant) only');
  }
  if (!request.actorToken || request.actorTokenType !== TOKEN_TYPES.accessToken) {
    throw new errors.InvalidRequest(
      'impersonation needs actor_token (the administrator’s access token) with actor_token_type access_token',
    );
  }
  let caller: Caller;
  try {
    caller = await ctx.authenticator.caller(request.actorToken);
  } catch (error) {
    if (error instanceof AppError && error.status < 500)
      throw new errors.InvalidGrant('actor_token is not an active access token for Gatehouse’s API');
    throw error;
  }
  // A machine application's admin token acts for no person: it impersonates no one.
  const admin = caller.user;
  if (!admin) throw new errors.InvalidGrant('actor_token is not an administrator’s token');
  const actor = actorOf(koa, 'user', admin.id);
  // Refusals about a known user are recorded in their home tenant (its administrators see them), others in the system tenant.
  const refuse = (reason: string, user?: { id: string; tenant_id: string }) => {
    auditBeforeAnswer(ctx, koa, {
      action: 'iam.token.exchangeRefused',
      actor,
      outcome: 'failure',
      tenantId: user?.tenant_id ?? clientTenantId,
      ...(user && { target: { type: 'user', id: user.id } }),
      details: { client_id: client.clientId, grant_type: 'impersonation', audience, reason },
    });
  };
  // The administrator signed in to this support tool: a token issued to another client (or the console's) is refused.
  if (decodeJwt(request.actorToken).client_id !== client.clientId) {
    refuse('actor_token_client');
    throw new errors.InvalidGrant('actor_token was not issued to this application: the administrator signs in to the support tool');
  }
  const scope = resolveScope(caller.held, caller.tenant.id, caller.tenant.is_system, { system: IMPERSONATE }, admin.id);
  if (!scope) {
    refuse('permission');
    throw new errors.AccessDenied(`impersonation needs the permission ${IMPERSONATE}`);
  }
  const { userId } = request;
  const user = isUuid(userId) ? await homedUser(ctx, userId) : undefined;
  if (!user) {
    refuse('no_such_user');
    throw noSuchUser();
  }
  if (user.id === admin.id) throw new errors.InvalidRequest('an administrator does not impersonate themselves');
  try {
    await assertManages(ctx.db, scope as Scope, admin.id, user, 'update');
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    refuse('not_outranked', user);
    throw new errors.AccessDenied('you do not outrank this user; an administrator above them may impersonate them');
  }
  const tenantId = user.tenant_id;
  if (!(await exchangeAudiences(ctx.db, client.clientId, 'impersonation')).includes(audience)) {
    refuse('audience', user);
    throw new errors.InvalidTarget(`this application may not impersonate for ${audience}`);
  }
  await issueExchangedToken(provider, ctx, koa, {
    userId: user.id,
    audience,
    act: { sub: admin.id },
    // The user's home tenant: its membership and roles make the token, its administrators see the events.
    organizationId: tenantId,
    audit: { actor, details: {}, tenantId },
    now: Math.floor(ctx.clock.now().getTime() / 1000),
    open: async () => {
      const session = await openImpersonation(ctx, {
        tenantId,
        userId: user.id,
        impersonator: { id: admin.id, email: admin.email, name: admin.name },
        clientId: client.clientId,
        ttlSeconds: ctx.config.impersonationTtlSeconds,
        actor,
      });
      return { notAfter: Math.floor(session.expiresAt.getTime() / 1000), details: { impersonation_id: session.id } };
    },
  });
}

/** The user, if active and a member of their home tenant (the system tenant for a user homed nowhere), an active one. */
async function homedUser(ctx: OidcContext, userId: string) {
  return ctx.db
    .selectFrom('users as u')
    .innerJoin('memberships as m', 'm.user_id', 'u.id')
    .innerJoin('tenants as t', 't.id', 'm.tenant_id')
    .select(['u.id', 'u.home_tenant_id', 'm.tenant_id'])
    .where('u.id', '=', userId)
    .where('u.status', '=', 'active')
    .where((eb) =>
      eb.or([eb('t.id', '=', eb.ref('u.home_tenant_id')), eb.and([eb('u.home_tenant_id', 'is', null), eb('t.is_system', '=', true)])]),
    )
    .where('t.status', '=', 'active')
    .executeTakeFirst();
}
