import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from 'jose';
import { freePort } from './oidc.js';

/**
 * A local stand-in for Google, Microsoft, Apple, GitHub and Facebook, answering at each
 * provider's documented paths in its documented JSON shapes (discovery, JWKS, token endpoint
 * signing ID tokens with jose, userinfo, GitHub's /user and /user/emails, Facebook's /me), for
 * the presets' test-only option `base_url`. One server per provider: Google's and Apple's
 * discovery documents share a path. The person who signs in is `person` (claims or the JSON
 * user), set by the test before following the authorization URL.
 */

export type SocialKind = 'google' | 'microsoft' | 'apple' | 'github' | 'facebook';

export const MICROSOFT_CONSUMERS_TID = '9188040d-6c67-4c5b-b112-36a304b66dad';
/** The tenant GUID the fake gives to a tenant named by its domain. */
export const CONTOSO_TID = '72f988bf-86f1-41af-91ab-2d7cd011db47';

export interface SocialProvider {
  baseUrl: string;
  /** The next person to sign in: ID token claims (OIDC kinds) or the user object (GitHub, Facebook). */
  person: Record<string, unknown>;
  /** GitHub's /user/emails answer; Apple's `user` form field; claims to override in the ID token (e.g. `iss`). */
  emails: Array<{ email: string; primary: boolean; verified: boolean; visibility: string | null }>;
  appleUser?: string;
  idTokenOverrides: Record<string, unknown>;
  /** Sign the next ID tokens with a key that is not in the JWKS (same kid). */
  foreignKey: boolean;
  /** The clients it knows: id → secret (Apple: the public key that checks the client secret JWT, team and key id). */
  clients: Record<string, string>;
  apple?: { publicKey: Awaited<ReturnType<typeof generateKeyPair>>['publicKey']; teamId: string; kid: string };
  /** What the token endpoint received last (client auth kind, the decoded Apple client secret…). */
  lastTokenRequest?: {
    auth: 'basic' | 'post';
    body: URLSearchParams;
    appleSecret?: { header: Record<string, unknown>; payload: Record<string, unknown> };
  };
  /** Follows the (rebased) authorization URL; returns the parameters sent to the redirect URI. */
  authorize(url: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const read = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => resolve(body));
  });

const ORIGINS: Record<SocialKind, { issuer?: (tenant: string) => string }> = {
  google: { issuer: () => 'https://accounts.google.com' },
  microsoft: {
    issuer: (tenant) =>
      tenant === 'common' || tenant === 'organizations'
        ? 'https://login.microsoftonline.com/{tenantid}/v2.0'
        : `https://login.microsoftonline.com/${tenant === 'consumers' ? MICROSOFT_CONSUMERS_TID : tenant.includes('.') ? CONTOSO_TID : tenant}/v2.0`,
  },
  apple: { issuer: () => 'https://appleid.apple.com' },
  github: {},
  facebook: {},
};

function discovery(kind: SocialKind, tenant: string, jwksUri: string): Record<string, unknown> {
  const base = {
    response_types_supported: ['code', 'id_token', 'code id_token'],
    subject_types_supported: ['public', 'pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    jwks_uri: jwksUri,
    issuer: ORIGINS[kind].issuer?.(tenant),
  };
  if (kind === 'google') {
    return {
      ...base,
      authorization_endpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
      token_endpoint: 'https://oauth2.googleapis.com/token',
      userinfo_endpoint: 'https://openidconnect.googleapis.com/v1/userinfo',
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      code_challenge_methods_supported: ['plain', 'S256'],
    };
  }
  if (kind === 'microsoft') {
    const t = `https://login.microsoftonline.com/${tenant}`;
    return {
      ...base,
      authorization_endpoint: `${t}/oauth2/v2.0/authorize`,
      token_endpoint: `${t}/oauth2/v2.0/token`,
      userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
    };
  }
  return {
    ...base,
    authorization_endpoint: 'https://appleid.apple.com/auth/authorize',
    token_endpoint: 'https://appleid.apple.com/auth/token',
    response_modes_supported: ['query', 'fragment', 'form_post'],
    token_endpoint_auth_methods_supported: ['client_secret_post'],
  };
}

export async function startSocialProvider(kind: SocialKind, clients: Record<string, string>): Promise<SocialProvider> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const foreign = (await generateKeyPair('RS256')).privateKey;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: `${kind}-1`, use: 'sig', alg: 'RS256' };
  const codes = new Map<
    string,
    { clientId: string; redirectUri: string; challenge?: string; nonce?: string; person: Record<string, unknown> }
  >();
  const tokens = new Map<string, Record<string, unknown>>();

  const provider: SocialProvider = {
    baseUrl,
    person: {},
    emails: [],
    idTokenOverrides: {},
    foreignKey: false,
    clients,
    authorize: async (url) => {
      const response = await fetch(url, { redirect: 'manual' });
      const location = response.headers.get('location');
      if (location) return Object.fromEntries(new URL(location).searchParams);
      const html = await response.text();
      if (response.status !== 200) throw new Error(`${kind} authorize answered ${response.status}: ${html}`);
      return Object.fromEntries(
        [...html.matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]?.replace(/&quot;/g, '"').replace(/&amp;/g, '&')]),
      );
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  /** The client's authentication at the token endpoint; undefined when refused. */
  async function clientOf(req: IncomingMessage, body: URLSearchParams): Promise<string | undefined> {
    let id = body.get('client_id') ?? '';
    let secret = body.get('client_secret') ?? '';
    let auth: 'basic' | 'post' = 'post';
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (basic) {
      const [user = '', pass = ''] = Buffer.from(basic, 'base64').toString().split(':');
      [id, secret, auth] = [decodeURIComponent(user), decodeURIComponent(pass), 'basic'];
    }
    provider.lastTokenRequest = { auth, body };
    if (kind === 'apple' && provider.apple) {
      try {
        const { payload, protectedHeader } = await jwtVerify(secret, provider.apple.publicKey, {
          algorithms: ['ES256'],
          issuer: provider.apple.teamId,
          subject: id,
          audience: 'https://appleid.apple.com',
        });
        provider.lastTokenRequest.appleSecret = {
          header: protectedHeader as Record<string, unknown>,
          payload: payload as Record<string, unknown>,
        };
        const lifetime = (payload.exp ?? 0) - (payload.iat ?? 0);
        if (protectedHeader.kid !== provider.apple.kid || lifetime > 15_777_000 || lifetime <= 0 || !(id in clients)) return undefined;
        return id;
      } catch {
        return undefined;
      }
    }
    return clients[id] !== undefined && clients[id] === secret ? id : undefined;
  }

  async function token(req: IncomingMessage, res: ServerResponse) {
    const body = new URLSearchParams(await read(req));
    const clientId = await clientOf(req, body);
    const wantsJson = kind !== 'github' || (req.headers.accept ?? '').includes('application/json');
    const answer = (status: number, value: Record<string, unknown>) => {
      if (wantsJson) return json(res, status, value);
      res.writeHead(status, { 'content-type': 'application/x-www-form-urlencoded' });
      res.end(new URLSearchParams(value as Record<string, string>).toString());
    };
    if (!clientId) {
      if (kind === 'github')
        return answer(200, {
          error: 'incorrect_client_credentials',
          error_description: 'The client_id and/or client_secret passed are incorrect.',
        });
      if (kind === 'facebook')
        return json(res, 400, { error: { message: 'Error validating client secret.', type: 'OAuthException', code: 1 } });
      return answer(401, { error: 'invalid_client' });
    }
    const grant = codes.get(body.get('code') ?? '');
    codes.delete(body.get('code') ?? '');
    const verifier = body.get('code_verifier');
    const pkceOk = !grant?.challenge || (verifier && createHash('sha256').update(verifier).digest('base64url') === grant.challenge);
    if (!grant || grant.clientId !== clientId || grant.redirectUri !== body.get('redirect_uri') || !pkceOk) {
      return answer(kind === 'github' ? 200 : 400, { error: kind === 'github' ? 'bad_verification_code' : 'invalid_grant' });
    }
    const accessToken = randomUUID();
    tokens.set(accessToken, grant.person);
    const result: Record<string, unknown> = {
      access_token: accessToken,
      token_type: kind === 'github' ? 'bearer' : 'Bearer',
      expires_in: 3600,
    };
    if (kind === 'google' || kind === 'microsoft' || kind === 'apple') {
      const now = Math.floor(Date.now() / 1000);
      const tid = typeof grant.person.tid === 'string' ? grant.person.tid : '';
      const iss = kind === 'microsoft' ? `https://login.microsoftonline.com/${tid}/v2.0` : ORIGINS[kind].issuer?.('');
      const claims = { iss, aud: clientId, iat: now, exp: now + 300, nonce: grant.nonce, ...grant.person, ...provider.idTokenOverrides };
      result.id_token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: jwk.kid as string })
        .sign(provider.foreignKey ? foreign : privateKey);
    }
    answer(200, result);
  }

  function authorize(url: URL, res: ServerResponse) {
    const q = url.searchParams;
    const clientId = q.get('client_id') ?? '';
    if (!(clientId in clients) || q.get('response_type') !== 'code' || !q.get('redirect_uri'))
      return json(res, 400, { error: 'invalid_request' });
    if ((kind === 'google' || kind === 'microsoft' || kind === 'apple') && !q.get('nonce'))
      return json(res, 400, { error: 'invalid_request', error_description: 'nonce' });
    const code = randomUUID();
    codes.set(code, {
      clientId,
      redirectUri: q.get('redirect_uri') as string,
      challenge: q.get('code_challenge') ?? undefined,
      nonce: q.get('nonce') ?? undefined,
      person: provider.person,
    });
    const params: Record<string, string> = { code, state: q.get('state') ?? '' };
    if (q.get('response_mode') === 'form_post') {
      if (provider.appleUser) params.user = provider.appleUser;
      const inputs = Object.entries(params).map(
        ([k, v]) => `<input type="hidden" name="${k}" value="${v.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}">`,
      );
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end(`<form method="post" action="${q.get('redirect_uri')}">${inputs.join('')}</form>`);
    }
    const target = new URL(q.get('redirect_uri') as string);
    for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
    res.writeHead(302, { location: target.href });
    res.end();
  }

  function resource(req: IncomingMessage, url: URL, res: ServerResponse) {
    const person = tokens.get(/^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (!person) return json(res, 401, { message: 'Bad credentials' });
    if (kind === 'github' && !req.headers['user-agent']) return json(res, 403, { message: 'User-Agent required' });
    if (url.pathname === '/user/emails') return json(res, 200, provider.emails);
    if (url.pathname === '/me') {
      const fields = (url.searchParams.get('fields') ?? 'id,name').split(',');
      return json(res, 200, Object.fromEntries(fields.filter((f) => f in person).map((f) => [f, person[f]])));
    }
    json(res, 200, person);
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', baseUrl);
    const path = url.pathname;
    const tenant = path.split('/')[1] ?? '';
    if (path.endsWith('/.well-known/openid-configuration')) {
      const keys =
        kind === 'google'
          ? 'https://www.googleapis.com/oauth2/v3/certs'
          : kind === 'apple'
            ? 'https://appleid.apple.com/auth/keys'
            : `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`;
      return json(res, 200, discovery(kind, tenant, keys));
    }
    if (['/oauth2/v3/certs', '/auth/keys'].includes(path) || path.endsWith('/discovery/v2.0/keys')) return json(res, 200, { keys: [jwk] });
    if (
      ['/o/oauth2/v2/auth', '/auth/authorize', '/login/oauth/authorize', '/v19.0/dialog/oauth'].includes(path) ||
      path.endsWith('/oauth2/v2.0/authorize')
    ) {
      return authorize(url, res);
    }
    if (
      req.method === 'POST' &&
      (['/token', '/auth/token', '/login/oauth/access_token', '/v19.0/oauth/access_token'].includes(path) ||
        path.endsWith('/oauth2/v2.0/token'))
    ) {
      return token(req, res);
    }
    if (['/v1/userinfo', '/user', '/user/emails', '/me'].includes(path)) return resource(req, url, res);
    json(res, 404, { error: 'not_found', path });
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => json(res, 500, { error: error.message }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return provider;
}
