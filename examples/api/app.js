/**
 * An API (resource server) protected by Gatehouse access tokens, with @gatehouse/sdk.
 *
 * Every request must carry `Authorization: Bearer <access token>` issued for this API's
 * identifier (the `audience`). The SDK verifies the token locally against Gatehouse's
 * JWKS (signature, `iss`, `aud`, `exp`); no call to Gatehouse per request.
 */
import { requireAuth, requirePermissions } from '@gatehouse/sdk/express';
import express from 'express';

const INVOICES = [
  { id: 'inv_001', customer: 'Acme Inc.', amount: 1200, currency: 'EUR' },
  { id: 'inv_002', customer: 'Globex', amount: 850, currency: 'EUR' },
];

/**
 * @param {{ issuer: string, audience: string, corsOrigins?: string[] }} config
 *   issuer: Gatehouse's base URL (GATEHOUSE_ISSUER); audience: the API's identifier;
 *   corsOrigins: browser origins allowed to call the API (a single-page app).
 */
export function createApp({ issuer, audience, corsOrigins = [] }) {
  const app = express();
  app.disable('x-powered-by');
  if (corsOrigins.length > 0) app.use(cors(corsOrigins));

  app.get('/health', (_req, res) => {
    res.json({ ok: true }); // public: before requireAuth
  });

  // From here on, a valid access token for this API is required (else 401).
  app.use(requireAuth({ issuer, audience }));

  // Who is calling: a user (sub = user id, org_id when an organization was chosen) or a machine client.
  app.get('/me', (req, res) => {
    const { sub, clientId, orgId, scope, permissions } = req.auth;
    res.json({ sub, client_id: clientId, org_id: orgId ?? null, scope, permissions });
  });

  // A permission is required (else 403). It may come in the `permissions` claim or in `scope`.
  app.get('/invoices', requirePermissions(['read:invoices']), (_req, res) => {
    res.json({ invoices: INVOICES });
  });

  app.post('/invoices', requirePermissions(['create:invoices']), express.json(), (req, res) => {
    const invoice = { id: `inv_${String(INVOICES.length + 1).padStart(3, '0')}`, ...req.body, created_by: req.auth.sub };
    INVOICES.push(invoice);
    res.status(201).json(invoice);
  });

  return app;
}

/** Starts the API; resolves once it listens. `port: 0` picks a free port. */
export async function start(config, port = 3002) {
  const server = createApp(config).listen(port);
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  return { server, url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Minimal CORS for browser callers: the listed origins only, with the Authorization header. */
function cors(origins) {
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (origin && origins.includes(origin)) {
      res.set({ 'access-control-allow-origin': origin, vary: 'Origin' });
      if (req.method === 'OPTIONS') {
        res.set({ 'access-control-allow-headers': 'authorization, content-type', 'access-control-allow-methods': 'GET, POST' });
        return res.status(204).end();
      }
    }
    next();
  };
}
