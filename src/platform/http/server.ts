import cookie from '@fastify/cookie';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest, type onRequestHookHandler } from 'fastify';
import { NoResultError } from 'kysely';
import type { AppContext } from '../context.js';
import { dependencyFailure } from '../dependency-failure.js';
import { AppError, serviceUnavailable } from '../errors.js';
import { SESSION_COOKIE } from './guards.js';
import { schemaCompilation, validationError, validatorCompiler } from './validation.js';

export const BODY_LIMIT = 1024 * 1024;

export type App = Awaited<ReturnType<typeof createHttpServer>>;

/**
 * The Fastify adapter: one instance with our error shape, validation, headers, cookies and the
 * OpenAPI document. It registers no route of its own: src/main/routes.ts does. `firstHook`
 * runs on every request before any other hook, the cookie parser's included (the IP block
 * list: a blocked address gets its 403 before anything of the request is read).
 */
export async function createHttpServer(ctx: AppContext, firstHook?: onRequestHookHandler) {
  const app = Fastify({
    schemaController: { compilersFactory: { buildSerializer: lazySerializers } },
    loggerInstance: ctx.log,
    bodyLimit: BODY_LIMIT,
    trustProxy: ctx.config.trustProxy,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  // JSON only: a text/plain body is 415, not a string handed to the schema.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const appError = asAppError(error, request);
    logFailure(request, error, appError);
    const body = { error: appError.code, message: appError.message, ...(appError.details && { details: appError.details }) };
    setRetryAfter(reply, appError);
    reply.status(appError.status).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: 'not_found', message: `No route for ${request.method} ${request.url.split('?')[0]}` });
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    // API answers carry tokens and account data: no-store, unless a route chose (the JWKS is public).
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  if (firstHook) app.addHook('onRequest', firstHook);
  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse API',
        version: '1',
        description: 'Identity and access management: sessions, organizations, tokens, users, roles, permissions, audit.',
      },
      servers: [{ url: ctx.config.issuer }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'A session token or an access token (JWT)' },
          sessionCookie: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        },
      },
    },
  });

  return app;
}

/**
 * Fastify's own response serializers (fast-json-stringify), each built when its route first
 * answers with that status rather than at start, as the validators are (decision 331).
 */
function lazySerializers(externalSchemas: unknown, options: unknown) {
  const build = SerializerSelector()(externalSchemas as never, options as never);
  return (route: Parameters<typeof build>[0]) => {
    let serialize = schemaCompilation.eager ? build(route) : undefined;
    return (data: unknown) => {
      serialize ??= build(route);
      return serialize(data);
    };
  };
}

/**
 * A refusal by the brute-force protection, and a dependency that failed, say when to come
 * back (RFC 9110 Retry-After).
 */
export function setRetryAfter(reply: { header(name: string, value: string): unknown }, error: AppError): void {
  const retryAfter = error.details?.retry_after;
  const says = error.code === 'too_many_attempts' || error.code === 'service_unavailable';
  if (says && typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
}

/**
 * What a failed request leaves in the log: a 500 as an error with its stack; a dependency
 * that failed (503) as a warning with its cause (an outage would otherwise bury the log in
 * stacks); a refusal (4xx) not at all.
 */
export function logFailure(request: FastifyRequest, error: unknown, appError: AppError, what = 'Request failed'): void {
  if (appError.code === 'service_unavailable') request.log.warn({ err: error }, `${what}: a dependency is unavailable`);
  else if (appError.status >= 500) request.log.error({ err: error }, what);
}

/** Fastify's errors as ours; `limit` is the body limit of the route that answers (the user import takes 64 MiB). */
const FASTIFY_ERRORS: Record<string, (limit: number) => AppError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => new AppError('malformed_json', 'The body is not valid JSON'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new AppError('malformed_json', 'The body is empty but the content type is JSON'),
  FST_ERR_CTP_BODY_TOO_LARGE: (limit) => new AppError('payload_too_large', `The body is larger than ${describeBytes(limit)}`),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new AppError('invalid_request', 'Content-Length does not match the body'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new AppError('unsupported_media_type', 'Send JSON (Content-Type: application/json)'),
};

/** "1048576 bytes (1 MiB)": the exact number, and the size a person reads. */
const describeBytes = (bytes: number) => (bytes % (1024 * 1024) === 0 ? `${bytes} bytes (${bytes / (1024 * 1024)} MiB)` : `${bytes} bytes`);

/**
 * Every route of a plugin (the hosted pages, the OAuth engine) takes at most `limit` bytes of
 * body, whatever its type: the route's limit is the one the 413 names.
 */
export function limitBodies(app: FastifyInstance, limit: number): void {
  app.addHook('onRoute', (route) => {
    route.bodyLimit ??= limit;
  });
}

/**
 * Any error as one of ours, for every error handler (the API's, the hosted pages', the OAuth
 * and MFA APIs'): what the framework refused with a 4xx (a body over the limit, a media type,
 * a schema) keeps its status and gets a stable code; only what is left is a 500 (decision 217).
 */
export function asAppError(error: unknown, request: FastifyRequest): AppError {
  return toAppError(error as FastifyError, request.routeOptions.bodyLimit ?? BODY_LIMIT);
}

function toAppError(error: FastifyError, bodyLimit: number): AppError {
  if (error instanceof AppError) return error;
  // The database restarting, a connection reset, no connection in time: retry shortly (decision 301).
  const failed = dependencyFailure(error);
  if (failed) return serviceUnavailable(failed, 1);
  // A concurrent request removed what this one was changing, or what it refers to.
  if (error instanceof NoResultError) return new AppError('not_found', 'Not found: it was removed meanwhile');
  if ((error as { code?: string }).code === '23503') {
    return new AppError('conflict', 'Something this request refers to was changed or removed meanwhile; try again');
  }
  if (error.validation) return validationError(error.validation as never, error.validationContext ?? 'body');
  const known = error.code ? FASTIFY_ERRORS[error.code] : undefined;
  if (known) return known(bodyLimit);
  if (error instanceof SyntaxError && error.statusCode === 400) return new AppError('malformed_json', 'The body is not valid JSON');
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError('invalid_request', error.message);
  }
  return new AppError('internal_error', 'Something went wrong on our side; the request left nothing half-done');
}
