import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/**
 * What the API reference page may load: its own scripts and styles (Swagger UI's, served
 * by the plugin under /api/v1/docs/static), images of its own and data: URLs, and the
 * OpenAPI document from this origin. No inline script, no framing, nothing from elsewhere.
 * Swagger UI sets styles from script, hence 'unsafe-inline' for styles alone.
 */
const REFERENCE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** GET /api/v1/docs: the OpenAPI document of @fastify/swagger, rendered by Swagger UI (@fastify/swagger-ui). */
export async function apiReference(app: FastifyInstance): Promise<void> {
  await app.register(swaggerUi, {
    routePrefix: '/api/v1/docs',
    staticCSP: true,
    transformStaticCSP: () => REFERENCE_CSP,
    uiConfig: { deepLinking: true, tryItOutEnabled: false, validatorUrl: null },
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.url.startsWith('/api/v1/docs')) reply.header('x-frame-options', 'DENY');
    return payload;
  });
}
