import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, type JWK, type JWTPayload, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { lacksRequiredMfa } from '../../authn/mfa/index.js';
import { effectivePermissions } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Tenant, User } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import { runTrigger } from '../../platform/ports/actions.js';
import { SIGNING_ALGS } from '../../platform/ports/signing-keys.js';
import { ACCESS_TOKEN_TTL_S } from './lifetimes.js';

/** The client the OIH session flow issues tokens to (RFC 9068 wants a client_id). */
export const SESSION_CLIENT_ID = 'gatehouse';

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  /** The Gatehouse session a token of the OIH flow was issued from. */
  sid?: string;
  /** The OAuth grant a token of the OIDC flows was issued under (the "session" it dies with). */
  gid?: string;
  client_id: string;
  org_id: string;
  org_name: string;
  roles: string[];
  permissions: string[];
  email: string;
  name: string | null;
  /** `client-credentials` (Auth0's claim): a machine application's own token for the admin API (decision 400); `sub` is its client_id. */
  gty?: string;
}

/** The `gty` of a machine application's token for the admin API. */
export const MACHINE_GTY = 'client-credentials';

/** The audience Auth0's ManagementClient asks for: `{issuer}/api/v2/`, an alias of the admin API's (decision 401). */
export const managementAudience = (ctx: AppContext) => `${ctx.config.issuer.replace(/\/+$/, '')}/api/v2/`;

/** A client id as applications get them (base64url), for a machine token's `sub`. */
const CLIENT_ID = /^[A-Za-z0-9_-]{1,100}$/;

/** Whether verified claims are a machine application's admin token: `sub` is the client, and no session or grant is named. */
export const isMachineToken = (claims: AccessTokenClaims): boolean =>
  claims.gty === MACHINE_GTY && claims.sub === claims.client_id && claims.sid === undefined && claims.gid === undefined;

export interface IssuedToken {
  token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/** The audience of tokens for Gatehouse's own API and the OIH flow: the issuer itself. */
export const apiAudience = (ctx: AppContext) => ctx.config.issuer;

/**
 * Stage 3 of the OIH flow: a JWT for one organization the user is an active member of,
 * carrying the roles and effective permissions there.
 */
export async function issueTenantToken(
  ctx: AppContext,
  user: User,
  session: { id: string; amr: string[] },
  organization: string,
  actor: Actor,
): Promise<IssuedToken> {
  const sessionId = session.id;
  const tenant = await findTenant(ctx, organization);
  const grants = tenant && (await effectivePermissions(ctx.db, user.id, tenant.id));
  if (!tenant || !grants) throw new AppError('not_a_member', 'You are not a member of this organization');
  if (tenant.status !== 'active') throw new AppError('tenant_suspended', 'This organization is suspended');
  // The MFA policies hold here too (decision 190: the organization's and the user's home
  // tenant's, read afresh): a session that proved only the password (signed in where MFA was
  // off) gets no token for an organization that asks for a second factor.
  if (await lacksRequiredMfa(ctx, user, { organizations: [tenant.id] }, session.amr)) {
    throw new AppError('mfa_step_required', 'This organization requires multi-factor authentication: sign in with your second factor');
  }
  // The post-login actions (issue 16): they may refuse the token, and add claims beside Gatehouse's own.
  const actions = await runTrigger(ctx, 'post-login', {
    tenantId: tenant.id,
    userId: user.id,
    clientId: SESSION_CLIENT_ID,
    request: { ip: actor.ip ?? undefined, user_agent: actor.userAgent ?? undefined },
    transaction: { protocol: 'oih-session' },
  });
  if (actions.denied) throw new AppError('access_denied', actions.denied.reason);
  const key = await ctx.keys.current();
  const now = Math.floor(ctx.clock.now().getTime() / 1000);
  const jti = randomUUID();
  const claims: AccessTokenClaims = {
    ...(actions.accessTokenClaims as Partial<AccessTokenClaims>),
    sub: user.id,
    sid: sessionId,
    client_id: SESSION_CLIENT_ID,
    org_id: tenant.id,
    org_name: tenant.name,
    roles: grants.roles,
    permissions: grants.permissions,
    email: user.email,
    name: user.name,
  };
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(ctx.config.tokenIssuer)
    .setAudience(apiAudience(ctx))
    .setIssuedAt(now)
    .setExpirationTime(now + ACCESS_TOKEN_TTL_S)
    .setJti(jti)
    .sign(key.privateKey);
  await recordAudit(ctx.db, ctx, {
    action: 'iam.token.created',
    actor,
    tenantId: tenant.id,
    target: { type: 'user', id: user.id },
    details: { jti, client_id: SESSION_CLIENT_ID, session_id: sessionId },
  });
  return { token, token_type: 'Bearer', expires_in: ACCESS_TOKEN_TTL_S };
}

/** The organization by id or slug. */
async function findTenant(ctx: AppContext, organization: string): Promise<Tenant | undefined> {
  return ctx.db
    .selectFrom('tenants')
    .selectAll()
    .where((eb) =>
      isUuid(organization) ? eb('id', '=', organization) : eb(eb.fn('lower', ['slug']), '=', eb.fn('lower', [eb.val(organization)])),
    )
    .executeTakeFirst();
}

/** One verifier per key set: the store hands out the same object until the set changes, so keys are imported once. */
const verifiers = new WeakMap<object, ReturnType<typeof createLocalJWKSet>>();

export function verifierFor(jwks: { keys: JWK[] }) {
  let verifier = verifiers.get(jwks);
  if (!verifier) {
    verifier = createLocalJWKSet(jwks);
    verifiers.set(jwks, verifier);
  }
  return verifier;
}

/**
 * Verifies a JWT we issued: signature by a key in our JWKS (next, current, or retired and
 * still published; RS256 or ES256 only, so neither `none` nor an HMAC made with a public
 * key passes), issuer, audience, expiry.
 */
export async function verifyAccessToken(ctx: AppContext, token: string): Promise<AccessTokenClaims> {
  try {
    const jwks = verifierFor(await ctx.keys.jwks());
    const { payload } = await jwtVerify<AccessTokenClaims>(token, jwks, {
      algorithms: [...SIGNING_ALGS],
      issuer: ctx.config.tokenIssuer,
      audience: apiAudience(ctx),
      typ: 'at+jwt',
      currentDate: ctx.clock.now(),
      requiredClaims: ['sub', 'client_id', 'org_id', 'exp', 'iat'],
    });
    // A token bound to a DPoP key (RFC 9449 `cnf.jkt`, decision 416) is good only with a proof
    // of that key; the admin API takes bearer tokens, so it refuses a bound one.
    if ((payload as { cnf?: unknown }).cnf !== undefined) {
      throw new AppError('invalid_token', 'A DPoP-bound access token is not accepted by this API');
    }
    // Ids are looked up in the database next: a token naming anything but ids is not ours.
    const fromSession = payload.client_id === SESSION_CLIENT_ID;
    if (isMachineToken(payload)) {
      if (!CLIENT_ID.test(payload.sub) || !isUuid(payload.org_id)) throw new AppError('invalid_token', 'The access token is not valid');
      return payload;
    }
    const ids = fromSession ? [payload.sub, payload.sid, payload.org_id] : [payload.sub, payload.org_id];
    const grantOk = fromSession || (typeof payload.gid === 'string' && payload.gid.length > 0 && payload.gid.length <= 100);
    if (!grantOk || !ids.every((id) => typeof id === 'string' && isUuid(id))) {
      throw new AppError('invalid_token', 'The access token is not valid');
    }
    return payload;
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) throw new AppError('invalid_token', 'The access token is not valid');
    throw error;
  }
}
