/**
 * The bound for Gatehouse's token endpoint: a bare oidc-provider 9 in its own process,
 * as its documentation configures it (in-memory adapter, static clients, one resource
 * server issuing RS256 JWT access tokens), serving the same requests at the same path as
 * Gatehouse: POST /oauth/token with HTTP Basic client authentication and Auth0's
 * `audience` parameter.
 * - client credentials for BENCH_CLIENT_ID;
 * - refresh-token rotation for BENCH_WEB_CLIENT_ID: asked over IPC (`{ refreshTokens: n }`),
 *   it issues n refresh tokens of a grant of `openid offline_access` and the API's scope,
 *   as Gatehouse's password grant does, and rotates them as Gatehouse does (an RS256 access
 *   token for the API, an ID token, a new refresh token).
 */
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const audience = process.env.BENCH_AUDIENCE;
const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'bare', alg: 'RS256', use: 'sig' };

// Idle keep-alive connections stay open as long as Fastify keeps Gatehouse's (72 s).
const server = createServer();
server.keepAliveTimeout = 72_000;
server.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const accountId = '0190f0e4-0000-7000-8000-000000000001';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.BENCH_CLIENT_ID,
      client_secret: process.env.BENCH_CLIENT_SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    ...(process.env.BENCH_WEB_CLIENT_ID
      ? [
          {
            client_id: process.env.BENCH_WEB_CLIENT_ID,
            client_secret: process.env.BENCH_WEB_CLIENT_SECRET,
            grant_types: ['authorization_code', 'refresh_token'],
            redirect_uris: ['https://app.bench.test/callback'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ]
      : []),
  ],
  jwks: { keys: [jwk] },
  routes: { token: '/oauth/token' },
  scopes: ['openid', 'offline_access'],
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub, email: 'admin@bench.test' }) }),
  rotateRefreshToken: true,
  ttl: {
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Auth0's `audience` form parameter, read as Gatehouse reads it (RFC 8707's `resource` is the engine's own).
      defaultResource: (ctx) => ctx.oidc.body?.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'read:invoices',
        audience,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
server.on('request', provider.callback());

/** Refresh tokens of one grant each, as Gatehouse's password grant issues them. */
async function refreshTokens(count) {
  const client = await provider.Client.find(process.env.BENCH_WEB_CLIENT_ID);
  const tokens = [];
  for (let i = 0; i < count; i++) {
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(audience, 'read:invoices');
    const grantId = await grant.save();
    tokens.push(
      await new provider.RefreshToken({
        accountId,
        client,
        grantId,
        gty: 'password',
        scope: 'openid offline_access',
        resource: audience,
        authTime: Math.floor(Date.now() / 1000),
        rotations: 0,
      }).save(),
    );
  }
  return tokens;
}
process.on('message', async (message) => {
  if (typeof message?.refreshTokens === 'number') process.send?.({ tokens: await refreshTokens(message.refreshTokens) });
});
process.send?.({ port: server.address().port });
process.on('SIGTERM', () => server.close(() => process.exit(0)));
