/**
 * The bound for Gatehouse's token endpoint: a bare oidc-provider 9 in its own process,
 * as its documentation configures it (in-memory adapter, one static client, one resource
 * server issuing RS256 JWT access tokens, client credentials enabled), serving the same
 * request at the same path as Gatehouse: POST /oauth/token with HTTP Basic client
 * authentication and Auth0's `audience` parameter.
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
  ],
  jwks: { keys: [jwk] },
  routes: { token: '/oauth/token' },
  ttl: { ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? 600 },
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
process.send?.({ port: server.address().port });
process.on('SIGTERM', () => server.close(() => process.exit(0)));
