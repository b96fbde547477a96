import { randomBytes } from 'node:crypto';
import { connectionsForClient } from '../../authn/federation/connections.js';
import { strategyOf } from '../../authn/federation/strategies.js';
import {
  type Connection,
  FederationError,
  type PasswordStrategy,
  type RedirectStrategy,
  type UpstreamProfile,
} from '../../authn/federation/strategy.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { seal, sha256 } from '../../platform/crypto/secrets.js';
import { AppError } from '../../platform/errors.js';
import { advanceFlow, createFlow } from '../kit/flows.js';
import { loginFailed } from './complete.js';
import { FEDERATION, type FederationFlow } from './flow.js';

/**
 * Starting a sign-in through a connection, from an authorization request: a button, the
 * email's domain (home-realm discovery), or `connection` / `identity_provider` in the
 * request. Only a connection enabled for the application (connectionsForClient: its own
 * tenant's or a system connection that lists its client id) can be used.
 */
export interface Client {
  clientId: string;
  tenantId: string;
}

/** The connection an application may use, by name (case-insensitive); else 400 `connection_unknown`. */
export async function usableConnection(ctx: AppContext, client: Client, name: string): Promise<Connection> {
  const found = (await connectionsForClient(ctx, client)).find((c) => c.name.toLowerCase() === name.trim().toLowerCase());
  if (!found)
    throw new AppError('connection_unknown', 'This application does not offer that connection', { connection: name.slice(0, 100) });
  return found;
}

export type StrategyOf<C extends Connection> = { connection: C } & (
  | { kind: 'redirect'; strategy: RedirectStrategy }
  | { kind: 'password'; strategy: PasswordStrategy }
);

/** A connection's strategy module, or `misconfigured` when none is built in for it. */
export function strategyFor(connection: Connection): RedirectStrategy | PasswordStrategy {
  const strategy = strategyOf(connection);
  if (!strategy) throw new FederationError('misconfigured', `No strategy module for ${connection.strategy}`);
  return strategy;
}

/** The one callback URL of every redirect connection; SAML's ACS names its connection (`?connection=NAME`). */
export function callbackUrl(ctx: AppContext, connection: Pick<Connection, 'name' | 'strategy'>): string {
  const base = `${ctx.config.issuer}/login/callback`;
  return connection.strategy === 'samlp' ? `${base}?connection=${encodeURIComponent(connection.name)}` : base;
}

/** The `state` (or RelayState) a flow sends to the provider: its id and a secret, of which only the hash is stored. */
const stateHash = (secret: string) => sha256(`federation-state\0${secret}`).toString('base64url');
export const savedContext = (flowId: string) => `federation-saved\0${flowId}`;
export const STATE_PATTERN = /^(flw_[0-9a-f]{32})\.([\w-]{43})$/;
export const hashOfStateSecret = stateHash;

async function applicationIdOf(ctx: AppContext, clientId: string): Promise<string | null> {
  const row = await ctx.db.selectFrom('applications').select('id').where('client_id', '=', clientId).executeTakeFirst();
  return row?.id ?? null;
}

/**
 * Where a federation flow starts and returns: an authorization request's interaction (the
 * application's tenant), or the account page of a signed-in user who links an identity
 * (the user's home tenant, no application; account-link.ts).
 */
export type Origin =
  | { kind: 'interaction'; client: Client; uid: string }
  | { kind: 'account'; tenantId: string; userId: string; sessionId: string };

export const ACCOUNT_LINK_RETURN = '/account/identities';

/** The flow's tenant, application, place to return to and data of its origin. */
async function placeOf(ctx: AppContext, origin: Origin) {
  if (origin.kind === 'account') {
    return {
      tenantId: origin.tenantId,
      applicationId: null,
      returnTo: ACCOUNT_LINK_RETURN,
      data: { account: { user_id: origin.userId, session_id: origin.sessionId } },
    };
  }
  return {
    tenantId: origin.client.tenantId,
    applicationId: await applicationIdOf(ctx, origin.client.clientId),
    returnTo: `/interaction/${origin.uid}`,
    data: {},
  };
}

/**
 * A new federation flow for a redirect connection (bound to this browser) and the URL the
 * browser goes to. The strategy's `saved` values (PKCE verifier, nonce, request id) are
 * sealed in the flow.
 */
export async function startRedirect(
  ctx: AppContext,
  input: {
    connection: Connection;
    strategy: RedirectStrategy;
    origin: Origin;
    browser: string;
    locale: string;
    loginHint?: string;
  },
): Promise<{ url: string; flow: FederationFlow }> {
  const { connection, strategy } = input;
  const secret = randomBytes(32).toString('base64url');
  const place = await placeOf(ctx, input.origin);
  const { flow } = await createFlow(ctx.db, ctx, FEDERATION, {
    state: 'redirected',
    channel: 'browser',
    tenantId: place.tenantId,
    applicationId: place.applicationId,
    browser: input.browser,
    returnTo: place.returnTo,
    locale: input.locale,
    data: { connection_id: connection.id, state_hash: stateHash(secret), ...place.data },
  });
  const { url, saved } = await strategy.start(ctx, connection, {
    redirectUri: callbackUrl(ctx, connection),
    state: `${flow.id}.${secret}`,
    ...(input.loginHint && { loginHint: input.loginHint }),
  });
  const sealed = seal(ctx.masterKey, JSON.stringify(saved), savedContext(flow.id));
  const started = await advanceFlow(ctx.db, ctx, flow, { state: 'redirected', data: { ...flow.data, saved_sealed: sealed } });
  return { url, flow: started };
}

/**
 * A password connection (`ad`): the strategy checks the username and password (a bind as
 * the user) and runs every try through the brute-force guard itself (kind `password`, the
 * login named by its connection, this client's address), so a wrong password here is
 * counted once. A right one starts a flow already `verified`.
 */
export async function provePassword(
  ctx: AppContext,
  input: { connection: Connection; strategy: PasswordStrategy; origin: Origin; browser: string; locale: string },
  credentials: { username: string; password: string },
  actor: Actor,
): Promise<FederationFlow> {
  const { connection, strategy } = input;
  const username = credentials.username.trim().slice(0, 256);
  const place = await placeOf(ctx, input.origin);
  const failed = (reason: string) =>
    loginFailed(ctx.db, ctx, { connection, tenantId: connection.tenantId ?? place.tenantId, reason }, actor);
  let profile: UpstreamProfile;
  try {
    profile = await strategy.authenticate(ctx, connection, { username, password: credentials.password, actor: { ip: actor.ip } });
  } catch (error) {
    if (error instanceof FederationError) {
      await failed(error.code === 'wrong_credentials' ? 'wrong_password' : `${error.code}: ${error.reason}`);
      if (error.code === 'wrong_credentials') throw new AppError('invalid_credentials', 'Wrong username or password');
    }
    throw error;
  }
  const { flow } = await createFlow(ctx.db, ctx, FEDERATION, {
    state: 'verified',
    channel: 'browser',
    tenantId: place.tenantId,
    applicationId: place.applicationId,
    browser: input.browser,
    returnTo: place.returnTo,
    locale: input.locale,
    data: { connection_id: connection.id, profile: storedProfile(profile), ...place.data },
  });
  return flow;
}

/** A profile as the flow stores it: only the fields it declares (undefined ones left out). */
export function storedProfile(profile: UpstreamProfile): NonNullable<FederationFlow['data']['profile']> {
  return JSON.parse(
    JSON.stringify({
      subject: profile.subject,
      provider: profile.provider,
      email: profile.email,
      emailVerified: profile.emailVerified === true,
      name: profile.name,
      givenName: profile.givenName,
      familyName: profile.familyName,
      picture: profile.picture,
      locale: profile.locale,
      claims: profile.claims ?? {},
      mfa: profile.mfa === true,
    }),
  );
}
