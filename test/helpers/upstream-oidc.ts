import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type ClientMetadata } from 'oidc-provider';
import { freePort } from './oidc.js';

/**
 * A real OpenID provider (oidc-provider) on a free loopback port, as the upstream of a
 * federation connection. Its interaction endpoint signs in whichever account the test
 * names, so a sign-in runs for real over HTTP: `start` → the provider → the callback → `finish`.
 */

export interface UpstreamAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  picture?: string;
  locale?: string;
  [claim: string]: unknown;
}

export interface SignInOptions {
  /** The account to sign in; omitted with `cancel`. */
  account?: string;
  /** The person cancels at the provider (the provider answers `error=access_denied`). */
  cancel?: boolean;
  /** Authentication methods reported in the ID token (`amr`), e.g. ['pwd', 'mfa']. */
  amr?: string[];
}

export interface UpstreamProvider {
  issuer: string;
  provider: Provider;
  /**
   * Follows an authorization URL through the provider as a browser would, signs the account
   * in (or cancels), and returns what arrives at the redirect URI: the query parameters, or
   * the fields of a form_post page.
   */
  signIn(authorizationUrl: string, options: SignInOptions): Promise<{ params: Record<string, string>; mode: 'query' | 'form_post' }>;
  /**
   * Follows a URL of the provider's end-session endpoint (OIDC RP-Initiated Logout, the
   * engine's `/session/end`) as a browser would: its confirmation form is pressed ("yes"),
   * and the URL the provider sends the browser back to is returned.
   */
  endSession(url: string): Promise<string>;
  /** Every request the end-session endpoint received (GET `/session/end…`), in order. */
  endSessionRequests: URL[];
  close(): Promise<void>;
}

/**
 * The client metadata most tests need: a confidential client of the code flow; with an https
 * redirect URI also of the `id_token` (front-channel) flow, which oidc-provider allows only
 * for https redirect URIs.
 */
export function upstreamClient(clientId: string, secret: string, redirectUri: string): ClientMetadata {
  const implicit = redirectUri.startsWith('https:');
  return {
    client_id: clientId,
    client_secret: secret,
    redirect_uris: [redirectUri],
    response_types: implicit ? ['code', 'id_token'] : ['code'],
    grant_types: implicit ? ['authorization_code', 'implicit'] : ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  };
}

class CookieJar {
  private readonly cookies = new Map<string, string>();

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  keep(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0] ?? '';
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

const htmlDecode = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&#x27;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The hidden fields of a form_post page. */
function formFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(match[0])?.[1];
    const value = /value="([^"]*)"/.exec(match[0])?.[1];
    if (name !== undefined) fields[htmlDecode(name)] = htmlDecode(value ?? '');
  }
  return fields;
}

export async function startUpstreamProvider(setup: {
  clients: ClientMetadata[];
  accounts: Record<string, UpstreamAccount>;
  /**
   * Custom claims the provider releases, by the scope that asks for them, e.g.
   * `{ groups: ['groups'] }`: a client asking for the scope `groups` gets each account's
   * `groups` in the userinfo answer. Without it only the standard claims are released.
   */
  claims?: Record<string, string[]>;
}): Promise<UpstreamProvider> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: `k-${port}` };
  const provider = new Provider(issuer, {
    clients: setup.clients,
    jwks: { keys: [jwk] },
    cookies: { keys: ['upstream-test-cookie-key'] },
    responseTypes: ['code', 'id_token'],
    pkce: { required: () => true },
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      iss: null,
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'picture', 'locale'],
      ...setup.claims,
    },
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const claims = setup.accounts[id];
      if (!claims) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
    },
  });

  // The interaction: `?account=ID[&amr=a,b]` signs the account in and grants what was asked; `?cancel=1` cancels.
  async function interaction(req: IncomingMessage, res: ServerResponse) {
    const query = new URL(req.url ?? '/', issuer).searchParams;
    const details = await provider.interactionDetails(req, res);
    if (query.get('cancel')) {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'The person cancelled' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const accountId = query.get('account') ?? '';
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    const amr = query.get('amr')?.split(',');
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId, ...(amr ? { amr } : {}) }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  const callback = provider.callback();
  const endSessionRequests: URL[] = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && /^\/session\/end(\?|$)/.test(req.url ?? '')) endSessionRequests.push(new URL(req.url ?? '/', issuer));
    if (req.url?.startsWith('/interaction/')) {
      interaction(req, res).catch((error: Error) => {
        res.statusCode = 500;
        res.end(error.message);
      });
    } else {
      callback(req, res);
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    issuer,
    provider,
    async signIn(authorizationUrl, options) {
      const jar = new CookieJar();
      let url = authorizationUrl;
      let method = 'GET';
      for (let hop = 0; hop < 10; hop++) {
        const target = new URL(url, issuer);
        if (target.origin !== issuer) {
          // Arrived at the redirect URI by a redirect: the parameters are in the query.
          return { params: Object.fromEntries(target.searchParams), mode: 'query' };
        }
        if (target.pathname.startsWith('/interaction/')) {
          if (options.cancel) target.searchParams.set('cancel', '1');
          else target.searchParams.set('account', options.account ?? '');
          if (options.amr) target.searchParams.set('amr', options.amr.join(','));
        }
        const response = await fetch(target, { method, headers: { cookie: jar.header() }, redirect: 'manual' });
        jar.keep(response);
        const location = response.headers.get('location');
        if (location) {
          url = location;
          method = 'GET';
          continue;
        }
        const body = await response.text();
        if (response.status === 200 && body.includes('<form')) return { params: formFields(body), mode: 'form_post' };
        throw new Error(
          `the provider answered ${response.status} at ${target.pathname}: ${/<pre>([\s\S]*?)<\/pre>/.exec(body)?.[1] ?? body.slice(-400)}`,
        );
      }
      throw new Error('too many redirects at the provider');
    },
    endSessionRequests,
    async endSession(url) {
      const jar = new CookieJar();
      let target = new URL(url);
      if (target.origin !== issuer) throw new Error(`not the provider: ${url}`);
      let init: RequestInit = { method: 'GET' };
      for (let hop = 0; hop < 5; hop++) {
        const response = await fetch(target, { ...init, headers: { ...init.headers, cookie: jar.header() }, redirect: 'manual' });
        jar.keep(response);
        const location = response.headers.get('location');
        if (location) {
          const next = new URL(location, target);
          if (next.origin !== issuer) return next.href;
          target = next;
          init = { method: 'GET' };
          continue;
        }
        const body = await response.text();
        const form = /<form[^>]*action="([^"]*)"/.exec(body);
        if (response.status !== 200 || !form?.[1])
          throw new Error(`the provider answered ${response.status} at ${target.pathname}: ${body.slice(-400)}`);
        target = new URL(htmlDecode(form[1]), target);
        init = {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ ...formFields(body), logout: 'yes' }).toString(),
        };
      }
      throw new Error('too many redirects at the provider');
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
