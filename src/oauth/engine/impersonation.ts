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

/** One answer for a user who does not exist, is not active, or is not of this application's tenant. */
const noSuchUser = () => new errors.InvalidGrant('no active user with this id in the application’s tenant');

/**
 * Impersonation for support (decision 432): the support tool (a confidential application
 * of the user's tenant, listing the API among its `impersonation_audiences`) sends the
 * administrator's own access token for Gatehouse's API as `actor_token` and the user's id
 * as `subject_token` (or, as Keycloak's clients do, the administrator's token as
 * `subject_token` and the user's id as `requested_subject`). The administrator
 * must hold `iam.user.impersonate` (restricted: only in the system tenant) and outrank the
 * user as for changing the account (decision 180). The token names the administrator in
 * `act`, ends with the impersonation's time box (at most 15 minutes), and both the start
 * and every token are audited; refusals of a known administrator are audited too.
 */
export async function impersonate(
  provider: Provider,
  ctx: OidcContext,
  koa: KoaContextWithOIDC,
  audience: string,
  request: ImpersonationRequest,
): Promise<void> {
  const client = koa.oidc.client as EngineClient;
  const tenantId = gatehouseClient(client).tenantId;
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
  const refuse = (reason: string, userId?: string) => {
    auditBeforeAnswer(ctx, koa, {
      action: 'iam.token.exchangeRefused',
      actor,
      outcome: 'failure',
      tenantId,
      ...(userId && { target: { type: 'user', id: userId } }),
      details: { client_id: client.clientId, grant_type: 'impersonation', audience, reason },
    });
  };
  const scope = resolveScope(caller.held, caller.tenant.id, caller.tenant.is_system, { system: IMPERSONATE }, admin.id);
  if (!scope) {
    refuse('permission');
    throw new errors.AccessDenied(`impersonation needs the permission ${IMPERSONATE}`);
  }
  const { userId } = request;
  const user = isUuid(userId) ? await memberOf(ctx, userId, tenantId) : undefined;
  if (!user) {
    refuse('no_such_user');
    throw noSuchUser();
  }
  if (user.id === admin.id) throw new errors.InvalidRequest('an administrator does not impersonate themselves');
  try {
    await assertManages(ctx.db, scope as Scope, admin.id, user, 'update');
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    refuse('not_outranked', user.id);
    throw new errors.AccessDenied('you do not outrank this user; an administrator above them may impersonate them');
  }
  if (!(await exchangeAudiences(ctx.db, client.clientId, 'impersonation')).includes(audience)) {
    refuse('audience', user.id);
    throw new errors.InvalidTarget(`this application may not impersonate for ${audience}`);
  }
  await issueExchangedToken(provider, ctx, koa, {
    userId: user.id,
    audience,
    act: { sub: admin.id },
    audit: { actor, details: {} },
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

/** The user, if active and a member of the tenant (an active one). */
async function memberOf(ctx: OidcContext, userId: string, tenantId: string) {
  return ctx.db
    .selectFrom('users as u')
    .innerJoin('memberships as m', 'm.user_id', 'u.id')
    .innerJoin('tenants as t', 't.id', 'm.tenant_id')
    .select(['u.id', 'u.home_tenant_id'])
    .where('u.id', '=', userId)
    .where('u.status', '=', 'active')
    .where('m.tenant_id', '=', tenantId)
    .where('t.status', '=', 'active')
    .executeTakeFirst();
}
