/**
 * A server-rendered web app that signs users in through Gatehouse's hosted page:
 * authorization code + PKCE with a confidential client (openid-client), tokens kept in
 * a server-side session (in memory here; use a real store with several instances),
 * an API called with the user's access token, and sign-out through /v2/logout.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import * as oidc from 'openid-client';

/**
 * @typedef {object} WebAppConfig
 * @property {string} issuer        Gatehouse's base URL, e.g. http://localhost:3000
 * @property {string} clientId      the application's client_id
 * @property {string} clientSecret  its client_secret (shown once, when the application was created)
 * @property {string} baseUrl       where this app is reached, e.g. http://localhost:3001; `${baseUrl}/callback`
 *                                  must be a redirect URI of the application, `${baseUrl}/` a post-logout one
 * @property {string} [audience]    the API's identifier: access tokens are issued for it
 * @property {string} [apiUrl]      the API's base URL, e.g. http://localhost:3002
 * @property {string} [scope]       default: openid profile email offline_access read:invoices
 */

/** @param {WebAppConfig} config */
export async function createApp(config) {
  const { issuer, clientId, clientSecret, baseUrl, audience, apiUrl } = config;
  const scope = config.scope ?? 'openid profile email offline_access read:invoices';
  const redirectUri = `${baseUrl}/callback`;

  // Reads /.well-known/openid-configuration once: endpoints, algorithms, the JWKS for ID tokens.
  const gatehouse = await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined, {
    // Only for a Gatehouse on http://localhost during development; remove in production (https).
    ...(issuer.startsWith('http:') && { execute: [oidc.allowInsecureRequests] }),
  });

  const app = express();
  app.disable('x-powered-by');
  const sessions = memorySessions(baseUrl.startsWith('https:'));
  app.use(sessions.middleware);

  app.get('/', (req, res) => {
    const user = req.session.user;
    res.send(
      page(
        'Home',
        user
          ? `<p>Signed in as <b>${escapeHtml(user.name ?? user.email ?? user.sub)}</b>.</p>
             <p><a href="/profile">Profile</a> · <a href="/invoices">Invoices (calls the API)</a> · <a href="/logout">Sign out</a></p>`
          : '<p><a href="/login">Sign in</a></p>',
      ),
    );
  });

  // 1. Send the browser to Gatehouse's /authorize with a PKCE challenge, a state and a nonce.
  app.get('/login', async (req, res) => {
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    req.session.pending = { codeVerifier, state, nonce, returnTo: safePath(req.query.returnTo) };
    const url = oidc.buildAuthorizationUrl(gatehouse, {
      redirect_uri: redirectUri,
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...(audience && { audience }),
      // Sign in to one organization (tenant): /login?organization=acme puts org_id in the token.
      ...(typeof req.query.organization === 'string' && { organization: req.query.organization }),
    });
    res.redirect(url.href);
  });

  // 2. Gatehouse redirects back with a code: exchange it (with the secret and the PKCE verifier) for tokens.
  // (Express 5 passes a rejected promise to the error handler: access_denied, a state that does not match…)
  app.get('/callback', async (req, res) => {
    const pending = req.session.pending;
    if (!pending) return res.redirect('/login');
    const tokens = await oidc.authorizationCodeGrant(gatehouse, new URL(req.originalUrl, baseUrl), {
      pkceCodeVerifier: pending.codeVerifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
    // A new session id after sign-in (no session fixation), holding the tokens server-side only.
    sessions.regenerate(req, res);
    req.session.tokens = keep(tokens);
    req.session.user = tokens.claims();
    res.redirect(pending.returnTo);
  });

  app.get('/profile', signedIn, async (req, res) => {
    // Who signed in: the ID token's claims (verified by openid-client), and what the API will read in the access token.
    const token = await accessToken(req);
    res.send(
      page(
        'Profile',
        `<h2>ID token claims</h2><pre id="claims">${escapeHtml(JSON.stringify(req.session.user, null, 2))}</pre>
         <h2>Access token claims (for ${escapeHtml(audience ?? 'Gatehouse')})</h2><pre id="access">${escapeHtml(JSON.stringify(claimsOf(token), null, 2))}</pre>
         <p><a href="/">Home</a></p>`,
      ),
    );
  });

  // 3. Call the API with the user's access token (a JWT for `audience`).
  app.get('/invoices', signedIn, async (req, res) => {
    if (!apiUrl) return res.status(500).send(page('Invoices', '<p>Set API_URL to call the API.</p>'));
    const response = await fetch(`${apiUrl}/invoices`, { headers: { authorization: `Bearer ${await accessToken(req)}` } });
    const body = await response.json();
    res
      .status(response.ok ? 200 : 502)
      .send(
        page('Invoices', `<p>The API answered ${response.status}:</p><pre id="api">${escapeHtml(JSON.stringify(body, null, 2))}</pre>`),
      );
  });

  // 4. Sign out here, then at Gatehouse (Auth0's /v2/logout), which sends the browser back to `returnTo`.
  app.get('/logout', (req, res) => {
    sessions.destroy(req, res);
    const url = new URL('/v2/logout', issuer);
    url.searchParams.set('client_id', clientId);
    url.searchParams.set('returnTo', `${baseUrl}/`);
    res.redirect(url.href);
  });

  /** A valid access token: the stored one, or a new one from the refresh token (which rotates) when it has expired. */
  async function accessToken(req) {
    const tokens = req.session.tokens;
    if (Date.now() < tokens.expiresAt - 30_000 || !tokens.refreshToken) return tokens.accessToken;
    req.session.tokens = keep(await oidc.refreshTokenGrant(gatehouse, tokens.refreshToken), tokens.refreshToken);
    return req.session.tokens.accessToken;
  }

  return app;
}

/** Starts the web app; resolves once it listens. */
export async function start(config, port = 3001) {
  const server = (await createApp(config)).listen(port);
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  return { server, close: () => new Promise((resolve) => server.close(resolve)) };
}

function signedIn(req, res, next) {
  if (req.session.tokens) return next();
  res.redirect(`/login?returnTo=${encodeURIComponent(req.originalUrl)}`);
}

/** What the session keeps of a token response. Refresh tokens rotate: always keep the newest. */
const keep = (tokens, previousRefreshToken) => ({
  accessToken: tokens.access_token,
  refreshToken: tokens.refresh_token ?? previousRefreshToken,
  idToken: tokens.id_token,
  expiresAt: Date.now() + (tokens.expiresIn() ?? 0) * 1000,
});

/** The claims of a JWT, decoded without verification: for display only (the API verifies it). An opaque token has none. */
const claimsOf = (token) => {
  const payload = token.split('.')[1];
  return payload ? JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) : '(an opaque token: no audience was asked for)';
};

/** Only a local path may be a place to return to after sign-in (no open redirect). */
const safePath = (value) => (typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') ? value : '/profile');

/** Server-side sessions in memory, keyed by a random id in an HttpOnly cookie. */
function memorySessions(secure) {
  const store = new Map();
  const COOKIE = 'webapp_sid';
  const setCookie = (res, id) =>
    res.append('set-cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}${id ? '' : '; Max-Age=0'}`);
  const create = (req, res) => {
    const id = randomBytes(32).toString('base64url');
    store.set(id, {});
    setCookie(res, id);
    req.sessionId = id;
    req.session = store.get(id);
  };
  return {
    middleware(req, res, next) {
      const id = /(?:^|;\s*)webapp_sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      if (id && store.has(id)) {
        req.sessionId = id;
        req.session = store.get(id);
      } else {
        create(req, res);
      }
      next();
    },
    regenerate(req, res) {
      store.delete(req.sessionId);
      create(req, res);
    },
    destroy(req, res) {
      store.delete(req.sessionId);
      setCookie(res, '');
    },
  };
}

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const page = (title, body) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>${body}</body></html>`;
