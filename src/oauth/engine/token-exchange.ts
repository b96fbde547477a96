import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../../platform/db/database.js';
import type { ExchangeUse } from '../../platform/db/schema.js';
import { findAccount } from './accounts.js';
import { auditBeforeAnswer } from './audited.js';
import { gatehouseClient, TOKEN_EXCHANGE_GRANT } from './clients.js';
import { actorOf, requestedAudience, requestedScopes } from './grants.js';
import { isLive, verifiedPayload } from './introspection.js';
import type { OidcContext } from './lookups.js';
import { setGrantOrganization } from './organizations.js';
import { permissionsOf } from './prefetch.js';
import { resourceServer } from './resources.js';

/** RFC 8693 token exchange (docs/connect-an-application.md#11-exchange-a-token, decisions 430–438). */
export { TOKEN_EXCHANGE_GRANT };
export const TOKEN_TYPES = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  /** Ours: the subject of an impersonation is a user, named by id (decision 432). */
  userId: 'urn:gatehouse:params:oauth:token-type:user_id',
} as const;

/** How deep `act` claims nest: a chain of services longer than this is refused (decision 434). */
export const MAX_ACT_DEPTH = 4;

/** An `act` claim (RFC 8693 §4.1): who acts, and who acted before them. */
export interface ActClaim {
  sub: string;
  act?: ActClaim;
}

/** What an exchanged token carries beyond a user's token (read by provider.ts's extraTokenClaims). */
interface ExchangedClaims {
  act: ActClaim;
  /** With RBAC and "permissions in token": the scopes issued, never more of the user's permissions. */
  permissions?: string[];
  amr?: string[];
}
const exchanged = new WeakMap<object, ExchangedClaims>();

/** The claims an exchange adds to the access token being issued in this request, if it is one. */
export const exchangedClaims = (koa: object | undefined): Partial<ExchangedClaims> => (koa && exchanged.get(koa)) || {};

export function registerTokenExchange(provider: Provider, ctx: OidcContext, impersonate: ExchangeHandler): void {
  // Off: the grant is not registered, so discovery does not list it and the endpoint answers unsupported_grant_type.
  if (!ctx.config.tokenExchange) return;
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, (koa) => tokenExchange(provider, ctx, koa, impersonate), [
    'subject_token',
    'subject_token_type',
    'actor_token',
    'actor_token_type',
    'requested_token_type',
    'requested_subject',
    'scope',
    'resource',
    'audience',
  ]);
}

/** Who impersonates whom: the administrator's access token for Gatehouse's API, and the user's id. */
export interface ImpersonationRequest {
  actorToken: string | undefined;
  actorTokenType: string | undefined;
  userId: string;
}

export type ExchangeHandler = (
  provider: Provider,
  ctx: OidcContext,
  koa: KoaContextWithOIDC,
  audience: string,
  request: ImpersonationRequest,
) => Promise<void>;

export type EngineClient = NonNullable<KoaContextWithOIDC['oidc']['client']>;

async function tokenExchange(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC, impersonate: ExchangeHandler) {
  const client = koa.oidc.client as EngineClient;
  // Only a confidential application exchanges: it proves which service acts (decision 431).
  if (client.clientAuthMethod === 'none') throw new errors.UnauthorizedClient('only a confidential application may exchange tokens');
  const params = koa.oidc.params as Record<string, string | undefined>;
  if (!params.subject_token || !params.subject_token_type) {
    throw new errors.InvalidRequest('missing required parameter: subject_token and subject_token_type');
  }
  if (params.requested_token_type && params.requested_token_type !== TOKEN_TYPES.accessToken) {
    throw new errors.InvalidRequest('only access tokens are issued (requested_token_type)');
  }
  const audience = requestedAudience(koa);
  if (!audience) throw new errors.InvalidRequest('missing required parameter: audience (the API the token is for)');
  if (params.subject_token_type === TOKEN_TYPES.userId) {
    const request = { actorToken: params.actor_token, actorTokenType: params.actor_token_type, userId: params.subject_token };
    return impersonate(provider, ctx, koa, audience, request);
  }
  if (params.subject_token_type !== TOKEN_TYPES.accessToken) throw new errors.InvalidRequest('unsupported subject_token_type');
  // Keycloak's shape of the same request: the administrator's token as the subject, the user as `requested_subject`.
  if (params.requested_subject) {
    if (params.actor_token)
      throw new errors.InvalidRequest('requested_subject takes the administrator’s token as subject_token, without actor_token');
    const request = { actorToken: params.subject_token, actorTokenType: TOKEN_TYPES.accessToken, userId: params.requested_subject };
    return impersonate(provider, ctx, koa, audience, request);
  }
  if (params.actor_token || params.actor_token_type) {
    throw new errors.InvalidRequest(
      'actor_token is taken with subject_token_type user_id only (impersonation); in delegation the application acts',
    );
  }
  return delegate(provider, ctx, koa, audience, params.subject_token);
}

/** The API identifiers an application may use for one purpose of the exchange (migration 0034). */
export async function exchangeAudiences(db: Db, clientId: string, use: ExchangeUse): Promise<string[]> {
  const rows = await db
    .selectFrom('application_exchange_apis as x')
    .innerJoin('applications as app', 'app.id', 'x.application_id')
    .innerJoin('apis as a', 'a.id', 'x.api_id')
    .select('a.identifier')
    .where('app.client_id', '=', clientId)
    .where('x.use', '=', use)
    .where('a.tenant_id', '=', (eb) => eb.ref('app.tenant_id'))
    .execute();
  return rows.map((row) => row.identifier);
}

const depthOf = (act: unknown): number => {
  let depth = 0;
  for (let at = act; at && typeof at === 'object'; at = (at as { act?: unknown }).act) depth++;
  return depth;
};

/**
 * Delegation (decision 431): an API's application exchanges the token a user sent it for
 * a token to call another API on the user's behalf. The subject token must be ours, live
 * (its user, membership and grant), for an API this application serves, and of its tenant;
 * the target must be one it may exchange to. The new token names the application in `act`
 * (nesting the subject token's own), lives no longer than the subject token, and carries
 * only scopes the user holds for the target API.
 */
async function delegate(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC, audience: string, subjectToken: string) {
  const client = koa.oidc.client as EngineClient;
  const tenantId = gatehouseClient(client).tenantId;
  const verified = await verifiedPayload(ctx, subjectToken);
  // isLive consults the deny list of revoked access tokens too (decision 391).
  if (!verified || !(await isLive(ctx, verified.payload, verified.api))) {
    throw new errors.InvalidGrant('subject_token is not an active access token');
  }
  // An HS256 API's secret is held by its service and its tenant's administrators, who can sign any claims with it
  // (a later `exp`, an `amr` never proven, an `act` chain): only a token signed with our own keys is exchanged.
  if (verified.api?.secret) {
    throw new errors.InvalidGrant(
      'subject_token is signed with an API’s shared secret (HS256): only tokens signed by Gatehouse’s keys are exchanged',
    );
  }
  const subject = verified.payload;
  if (typeof subject.sub !== 'string' || subject.sub === subject.client_id) {
    throw new errors.InvalidGrant('subject_token is a machine token: there is no user to act for');
  }
  const subjectClient = await ctx.lookups.client(subject.client_id as string);
  const subjectTenant = typeof subject.org_id === 'string' ? subject.org_id : (subjectClient?.gatehouse_tenant_id as string | undefined);
  if (subjectTenant !== tenantId || verified.api?.tenantId !== tenantId) {
    throw new errors.InvalidGrant('subject_token was issued for another tenant');
  }
  if (!(await exchangeAudiences(ctx.db, client.clientId, 'subject')).includes(verified.api.identifier)) {
    throw new errors.InvalidGrant('subject_token is not for an API this application serves');
  }
  if (!(await exchangeAudiences(ctx.db, client.clientId, 'target')).includes(audience)) {
    throw new errors.InvalidTarget(`this application may not exchange tokens for ${audience}`);
  }
  if (depthOf(subject.act) >= MAX_ACT_DEPTH) throw new errors.InvalidGrant('the chain of actors is too long');
  const now = Math.floor(ctx.clock.now().getTime() / 1000);
  await issueExchangedToken(provider, ctx, koa, {
    userId: subject.sub,
    audience,
    act: { sub: client.clientId, ...(subject.act ? { act: subject.act as ActClaim } : {}) },
    notAfter: subject.exp as number,
    organizationId: typeof subject.org_id === 'string' ? subject.org_id : undefined,
    ...(Array.isArray(subject.amr) && { amr: subject.amr as string[] }),
    audit: {
      actor: actorOf(koa, 'client', client.clientId),
      details: { subject_jti: subject.jti ?? null, subject_client_id: subject.client_id },
    },
    now,
  });
}

export interface ExchangeIssue {
  userId: string;
  audience: string;
  act: ActClaim;
  /** The token expires by then (epoch seconds): the subject token's end. */
  notAfter?: number;
  /** Called once the request has passed every check: the impersonation that bounds the token (its end, its audit details). */
  open?: () => Promise<{ notAfter: number; details: Record<string, unknown> }>;
  organizationId?: string | undefined;
  amr?: string[];
  /** `tenantId`: the tenant the token event is recorded under (the application's unless given). */
  audit: { actor: ReturnType<typeof actorOf>; details: Record<string, unknown>; tenantId?: string };
  now: number;
}

/**
 * Issues the exchanged access token (never a refresh token, decision 435): a grant of its
 * own for the user and this application that lives as long as the token (so ending the
 * user's access ends it, and introspection checks it), scopes that the user holds for the
 * target API and the request asked for (all the user holds there when it asked for none).
 */
export async function issueExchangedToken(provider: Provider, ctx: OidcContext, koa: KoaContextWithOIDC, issue: ExchangeIssue) {
  const client = koa.oidc.client as EngineClient;
  const tenantId = gatehouseClient(client).tenantId;
  const account = await findAccount(ctx, issue.userId);
  if (!account) throw new errors.InvalidGrant('the user is not active');
  koa.oidc.entity('Account', account);
  const api = await ctx.lookups.api(issue.audience);
  if (api?.tenantId !== tenantId) throw new errors.InvalidTarget(`no API has the identifier ${JSON.stringify(issue.audience)}`);
  const held = await permissionsOf(ctx.db, koa, issue.userId, issue.organizationId ?? tenantId, api.id);
  if (!held.grants) throw new errors.InvalidGrant('the user is not a member of this application’s tenant');
  const holds = new Set(held.api.filter((scope) => api.permissions.includes(scope)));
  const requested = requestedScopes(koa);
  const notHeld = requested.filter((scope) => !holds.has(scope));
  if (notHeld.length > 0) throw new errors.InvalidScope('the user does not hold the requested scope for this API', notHeld.join(' '));
  const scopes = requested.length > 0 ? [...new Set(requested)] : [...holds].sort();

  // Post-login Actions run for the exchanged token as for every user token of the engine (extraTokenClaims in
  // provider.ts, the exchanging application's tenant): their claims go in, a denial answers access_denied.

  const opened = await issue.open?.();
  const notAfter = opened?.notAfter ?? (issue.notAfter as number);
  const expiresIn = Math.min(api.tokenLifetime, notAfter - issue.now);
  if (expiresIn < 1) throw new errors.InvalidGrant('subject_token is not an active access token');

  const grant = new provider.Grant({ accountId: issue.userId, clientId: client.clientId });
  // The grant lives as long as its one token (the engine's BaseToken takes `expiresIn`; its types omit it for grants).
  Object.assign(grant, { expiresIn });
  grant.addResourceScope(issue.audience, scopes.join(' '));
  koa.oidc.entity('Grant', grant);
  const grantId = await grant.save();
  // The subject token's organization stays the token's (its `org_id`, and the membership introspection checks).
  if (issue.organizationId) await setGrantOrganization(ctx, grantId, issue.organizationId, new Date((issue.now + expiresIn) * 1000));
  const server = await resourceServer(ctx, koa, issue.audience, client);
  const token = new provider.AccessToken({
    accountId: issue.userId,
    client,
    grantId,
    gty: TOKEN_EXCHANGE_GRANT,
    scope: scopes.join(' ') || undefined,
    expiresIn,
  });
  token.resourceServer = new provider.ResourceServer(issue.audience, { ...server, scope: scopes.join(' '), accessTokenTTL: expiresIn });
  // The end fixed now, from the same clock reading as `expiresIn`: a second ticking over before the engine
  // stamps the token must not carry it past the subject token's end.
  token.exp = issue.now + expiresIn;
  exchanged.set(koa, {
    act: issue.act,
    ...(api.rbac && api.permissionsInToken && { permissions: scopes }),
    ...(issue.amr && { amr: issue.amr }),
  });
  const value = await token.save();
  auditBeforeAnswer(ctx, koa, {
    action: 'iam.token.created',
    actor: issue.audit.actor,
    tenantId: issue.audit.tenantId ?? tenantId,
    target: { type: 'user', id: issue.userId },
    details: {
      jti: token.jti,
      client_id: client.clientId,
      grant_type: TOKEN_EXCHANGE_GRANT,
      audience: issue.audience,
      scope: scopes.join(' '),
      act: issue.act,
      ...issue.audit.details,
      ...opened?.details,
    },
  });
  koa.body = {
    access_token: value,
    issued_token_type: TOKEN_TYPES.accessToken,
    token_type: 'Bearer',
    expires_in: expiresIn,
    ...(token.scope && { scope: token.scope }),
  };
}
