import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import type { TenantAdmin } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';
import {
  type SignInOptions,
  startUpstreamProvider,
  type UpstreamAccount,
  type UpstreamProvider,
  upstreamClient,
} from '../../helpers/upstream-oidc.js';

/**
 * A real Gatehouse (listening), a real upstream OpenID provider (oidc-provider) and a real
 * client (openid-client): the tests of a sign-in through a connection drive all three as a
 * browser without JavaScript would.
 */
export const CALLBACK = 'http://localhost:4000/callback';
export const API = 'urn:gatehouse:acme:api';
export const UPSTREAM_SECRET = 'upstream-client-secret';
export const atCallback = (location: string) => location.startsWith(CALLBACK);

export interface World {
  gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  upstream: UpstreamProvider;
  accounts: Record<string, UpstreamAccount>;
  acme: TenantAdmin;
  globex: TenantAdmin;
  app: { client_id: string; client_secret: string };
  config: client.Configuration;
  /** Options of an `oidc` connection at the upstream provider. */
  oidcOptions: Record<string, unknown>;
}

export async function startWorld(
  accounts: Record<string, UpstreamAccount>,
  options: { clock?: { now(): Date }; claims?: Record<string, string[]> } = {},
): Promise<World> {
  const gh = await startListeningGatehouse(options.clock ? { clock: options.clock } : {});
  const upstream = await startUpstreamProvider({
    // The code flow only: oidc-provider refuses an http redirect URI to a web client allowed the implicit flow.
    clients: [
      {
        ...upstreamClient('gatehouse', UPSTREAM_SECRET, `${gh.issuer}/login/callback`),
        // Where the provider's end-session sends the browser back (`/v2/logout?federated`).
        post_logout_redirect_uris: [`${gh.issuer}/login/logout-callback`],
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
    ],
    accounts,
    ...(options.claims && { claims: options.claims }),
  });
  const acme = await gh.tenantWithAdmin('acme');
  const globex = await gh.tenantWithAdmin('globex');
  const app = await gh.created('/api/v1/applications', acme.token, { name: 'Acme Portal', type: 'web', redirect_uris: [CALLBACK] });
  await gh.created('/api/v1/apis', acme.token, { identifier: API, name: 'Acme API' });
  const config = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  return { gh, upstream, accounts, acme, globex, app, config, oidcOptions: { issuer: upstream.issuer, client_id: 'gatehouse' } };
}

export async function stopWorld(world: World) {
  await world.upstream.close();
  await world.gh.stop();
}

/** An authorization request of the application (PKCE, state, the API as audience). */
export async function authorization(world: World, params: Record<string, string> = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(world.config, {
    redirect_uri: CALLBACK,
    scope: 'openid email',
    audience: API,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  });
  return { url: url.href, verifier, state };
}

/** The form on a page whose action contains `marker`. */
export function formWith(page: string, marker: string) {
  for (const match of page.matchAll(/<form[\s\S]*?<\/form>/g)) if (match[0].includes(marker)) return formOf(match[0]);
  throw new Error(`No form with ${marker}:\n${page.slice(0, 3000)}`);
}

export interface FederatedRun {
  browser: Browser;
  verifier: string;
  state: string;
  /** Where Gatehouse sent the browser at the provider (its authorization URL), if it got there. */
  atProvider?: string;
  /** The provider's answer, as it arrived at /login/callback. */
  answer?: Record<string, string>;
  /** Where it ended: the application's callback, or a Gatehouse page. */
  url: string;
  status: number;
  page: string;
}

/**
 * /authorize → (a button, an email typed, or the request's own parameter) → the provider,
 * where `account` signs in (or cancels) → /login/callback → wherever that leads.
 */
export async function federatedSignIn(
  world: World,
  how: { params?: Record<string, string>; button?: string; email?: string; browser?: Browser } & SignInOptions,
): Promise<FederatedRun> {
  const browser = how.browser ?? new Browser();
  const { url, verifier, state } = await authorization(world, how.params);
  const stop = (location: string) => location.startsWith(world.upstream.issuer) || atCallback(location);
  let hop = await browser.follow(url, stop);
  if (how.button) {
    const page = await hop.response.text();
    const form = formWith(page, `/connection/${how.button}"`);
    hop = await browser.submit(hop.url, form.action, form.fields, stop);
  } else if (how.email) {
    const page = await hop.response.text();
    const form = formWith(page, '/login"');
    hop = await browser.submit(hop.url, form.action, { ...form.fields, username: how.email, password: 'not-checked' }, stop);
  }
  if (!hop.url.startsWith(world.upstream.issuer)) {
    return { browser, verifier, state, url: hop.url, status: hop.response.status, page: await hop.response.text() };
  }
  const { params } = await world.upstream.signIn(hop.url, how);
  const back = `${world.gh.issuer}/login/callback?${new URLSearchParams(params)}`;
  const landed = await browser.follow(back, atCallback);
  return {
    browser,
    verifier,
    state,
    atProvider: hop.url,
    answer: params,
    url: landed.url,
    status: landed.response.status,
    page: atCallback(landed.url) ? '' : await landed.response.text(),
  };
}

/** The application's tokens for a run that ended at its callback; the access token's and ID token's claims. */
export async function tokensOf(world: World, run: FederatedRun) {
  assert.ok(atCallback(run.url), `ended at ${run.url} (${run.status}): ${run.page.slice(0, 600)}`);
  const tokens = await client.authorizationCodeGrant(world.config, new URL(run.url), {
    pkceCodeVerifier: run.verifier,
    expectedState: run.state,
  });
  return { access: decodeJwt(tokens.access_token), id: decodeJwt(tokens.id_token as string) };
}

/** The user with this email, from the database. */
export async function userByEmail(world: World, email: string) {
  return world.gh.ctx.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
}
