import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import { clientSecretDigest } from '../../platform/crypto/secrets.js';
import { AppError } from '../../platform/errors.js';
import { looksLikeJwt } from '../../platform/http/guards.js';
import { asAppError, limitBodies, logFailure, setRetryAfter } from '../../platform/http/server.js';
import { parseBasicCredentials } from './clients.js';
import type { Oidc } from './index.js';
import { ROUTES } from './provider.js';

/** The engine reads at most this much of a body (oidc-provider's own limit is 56 KiB). */
const BODY_LIMIT = 56 * 1024;

/** Cognito's paths, served by the same endpoints as Auth0's. */
const ALIASES: Record<string, string> = {
  '/oauth2/authorize': ROUTES.authorization,
  '/oauth2/token': ROUTES.token,
  '/oauth2/userInfo': ROUTES.userinfo,
  '/oauth2/revoke': ROUTES.revocation,
  '/logout': ROUTES.end_session,
};

/** Auth0's `returnTo` and Cognito's `logout_uri` are OpenID's `post_logout_redirect_uri`. */
const LOGOUT_RETURN_PARAMS = ['returnTo', 'logout_uri'];

/** Endpoints that take POST only (RFC 6749 §3.2, RFC 7009, RFC 7662, RFC 8628); the engine answers other methods with a plain-text 404. */
const POST_ONLY = new Set<string>([
  ROUTES.token,
  ROUTES.revocation,
  ROUTES.introspection,
  ROUTES.device_authorization,
  ROUTES.pushed_authorization_request,
]);

/** Endpoints that take a JSON body as well as a form (Auth0 accepts both, and its SDKs send JSON; decision 386). */
const JSON_BODIES = new Set<string>([ROUTES.token, ROUTES.revocation, ROUTES.device_authorization]);

/** Endpoints where an Authorization header can only be client authentication (HTTP Basic). */
const CLIENT_AUTHENTICATED = new Set<string>([
  ROUTES.token,
  ROUTES.revocation,
  ROUTES.device_authorization,
  ROUTES.pushed_authorization_request,
]);

const ENGINE_PATHS = [
  ROUTES.authorization,
  `${ROUTES.authorization}/:uid`,
  ROUTES.token,
  ROUTES.userinfo,
  ROUTES.revocation,
  ROUTES.introspection,
  ROUTES.end_session,
  `${ROUTES.end_session}/confirm`,
  `${ROUTES.end_session}/success`,
  ROUTES.device_authorization,
  ROUTES.pushed_authorization_request,
  ROUTES.code_verification,
  `${ROUTES.code_verification}/*`,
  '/.well-known/openid-configuration',
];

/**
 * Mounts the protocol engine in Fastify. Requests pass through untouched but for three
 * translations: a client secret becomes its digest (what is stored, docs/architecture.md#domain-model), Cognito's
 * paths and Auth0's logout parameters become the engine's, and signing out through the
 * engine also ends the Gatehouse session (one sign-in, one sign-out).
 */
export const oidcRoutes =
  (ctx: AppContext, oidc: Oidc): FastifyPluginAsync =>
  async (app) => {
    limitBodies(app, BODY_LIMIT);
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    // A JSON body becomes the form the engine reads (it parses forms only), within the same limit.
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, { json: formFromJson(body as string) });
      } catch (error) {
        done(error as Error);
      }
    });
    // Any other body is left unread for the engine, which answers it with an RFC error.
    app.addContentTypeParser('*', (_req, _payload, done) => done(null));
    // What fails before the engine sees the request (a body over the limit) is an RFC 6749 error too.
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const appError = asAppError(error, request);
      const { status, message } = appError;
      // A dependency that failed before the engine ran (the keys' read): RFC 6749's word, with Retry-After (decision 301).
      if (appError.code === 'service_unavailable') {
        logFailure(request, error, appError, 'OAuth request failed');
        setRetryAfter(reply, appError);
        return reply.status(status).type('application/json').send({ error: 'temporarily_unavailable', error_description: message });
      }
      // Refusals of our own before the engine (an IP block): their code, in the OAuth error shape.
      if (error instanceof AppError) {
        return reply.status(error.status).type('application/json').send({ error: error.code, error_description: error.message });
      }
      // The framework's refusals (a body over the limit: 413) keep their status, as invalid_request.
      logFailure(request, error, appError, 'OAuth request failed');
      const description = status >= 500 ? 'The request failed' : message;
      return reply
        .status(status)
        .type('application/json')
        .send({ error: status >= 500 ? 'server_error' : 'invalid_request', error_description: description });
    });

    /** Hands a request to the engine; `target` is the engine path an alias stands for. */
    const forward = (target?: string) => async (request: FastifyRequest, reply: FastifyReply) => {
      const raw = request.raw as typeof request.raw & { body?: string };
      const url = new URL(request.raw.url ?? '/', 'http://engine');
      if (target) url.pathname = target;
      const path = url.pathname;
      if (POST_ONLY.has(path) && request.method === 'GET') {
        return reply
          .status(405)
          .header('allow', 'POST')
          .send({ error: 'invalid_request', error_description: `${request.method} is not allowed here; send a POST` });
      }
      if (path === ROUTES.end_session)
        for (const name of LOGOUT_RETURN_PARAMS) moveParam(url.searchParams, name, 'post_logout_redirect_uri');
      if (path === ROUTES.authorization) auth0Defaults(url.searchParams);
      raw.url = url.pathname + url.search;
      const json = jsonBody(request.body);
      if (json && !JSON_BODIES.has(path)) {
        throw new AppError('invalid_request', 'This endpoint takes an application/x-www-form-urlencoded body');
      }
      if (json) raw.headers['content-type'] = 'application/x-www-form-urlencoded';
      const form = typeof request.body === 'string' ? new URLSearchParams(request.body) : json;
      const token = form?.get('token');
      if (path === ROUTES.introspection && form && token && looksLikeJwt(token)) {
        const answer = await oidc.introspectJwt(form, request.headers.authorization);
        return reply.status(answer.status).header('cache-control', 'no-store').send(answer.body);
      }
      // The engine stores no JWT access token: revoking one lists its jti (decision 391).
      if (path === ROUTES.revocation && form && token && looksLikeJwt(token)) {
        const actor = { ip: request.ip, userAgent: request.headers['user-agent'] ?? null };
        const answer = await oidc.revokeJwt(form, request.headers.authorization, actor);
        return reply.status(answer.status).header('cache-control', 'no-store').send(answer.body);
      }
      const presented = /^(bearer|dpop) (.+)$/i.exec(request.headers.authorization ?? '');
      const bearer = presented?.[2];
      if (path === ROUTES.userinfo && presented && bearer && looksLikeJwt(bearer)) {
        const scheme = presented[1]?.toLowerCase() === 'dpop' ? 'dpop' : 'bearer';
        const proof = request.headers.dpop;
        const answer = await oidc.userinfoJwt(bearer, {
          scheme,
          proof: typeof proof === 'string' ? proof : undefined,
          method: request.method,
          // The issuer's URL of the route asked (an alias too), never one built from the Host header.
          urls: [...new Set([`${ctx.config.issuer}${ROUTES.userinfo}`, `${ctx.config.issuer}${request.url.split('?')[0]}`])],
        });
        if (answer.status === 401) {
          const challenge = scheme === 'dpop' ? 'DPoP' : 'Bearer';
          reply.header('www-authenticate', `${challenge} error="invalid_token", error_description="${answer.body.error_description}"`);
        }
        return reply.status(answer.status).header('cache-control', 'no-store').send(answer.body);
      }
      // A pushed request is checked when it is pushed: at /authorize its parameters are out of sight (request_uri).
      if (path === ROUTES.authorization || (path === ROUTES.pushed_authorization_request && form)) {
        await oidc.checkAuthorizationRequest(form ?? url.searchParams);
      }
      const authorization = request.headers.authorization;
      if (authorization && CLIENT_AUTHENTICATED.has(path) && !/^basic /i.test(authorization)) {
        // Not client authentication (the article's Auth0 code sends `Bearer <mfa_token>` to the token endpoint).
        delete request.raw.headers.authorization;
      } else if (authorization) {
        request.raw.headers.authorization = digestBasicSecret(ctx.masterKey, authorization);
      }
      if (form) {
        const secret = form.get('client_secret');
        if (secret) form.set('client_secret', clientSecretDigest(ctx.masterKey, secret));
        if (path === ROUTES.end_session) for (const name of LOGOUT_RETURN_PARAMS) moveParam(form, name, 'post_logout_redirect_uri');
        // A pushed request is an authorization request too; a request object carries its own parameters (RFC 9101 §6.3).
        if ((path === ROUTES.authorization || path === ROUTES.pushed_authorization_request) && !form.has('request')) auth0Defaults(form);
        raw.body = form.toString();
      }
      if (Array.isArray(ctx.config.trustProxy)) {
        // The engine trusts X-Forwarded-* from every proxy or none; with a list of trusted
        // proxies, hand it what Fastify resolved through that list (the client's address
        // for lockout counters and the audit trail, not the proxy's or a spoofed one).
        raw.headers['x-forwarded-for'] = request.ip;
        raw.headers['x-forwarded-proto'] = request.protocol;
        raw.headers['x-forwarded-host'] = request.host;
      }
      // The engine (its keys) first: once hijacked, an error could no longer be answered.
      const handle = await oidc.handler();
      reply.hijack();
      await handle(raw, reply.raw);
    };

    for (const path of ENGINE_PATHS) {
      app.route({ method: ['GET', 'POST', 'OPTIONS'], url: path, schema: { hide: true }, handler: forward() });
    }
    for (const [alias, target] of Object.entries(ALIASES)) {
      app.route({ method: ['GET', 'POST', 'OPTIONS'], url: alias, schema: { hide: true }, handler: forward(target) });
    }
  };

/**
 * Auth0's defaults for an authorization request. Without `scope`, it asks for `openid`
 * (the engine would grant nothing). And OpenID Connect grants `offline_access` (a refresh
 * token) only with `prompt=consent`, which Auth0's SDKs never send: so the request asks
 * for consent, which the hosted pages give at once when nothing new is asked (a
 * first-party application, or a third-party one the user already allowed).
 */
function auth0Defaults(params: URLSearchParams) {
  if (!params.get('scope')) params.set('scope', 'openid');
  const scopes = (params.get('scope') ?? '').split(' ');
  if (!scopes.includes('offline_access')) return;
  // With any other prompt too (`login`, `select_account`): consent is added to it (decision 390).
  // `none` stands alone (OpenID Connect Core §3.1.2.1): a silent request keeps its refresh token from the sign-in.
  const prompts = (params.get('prompt') ?? '').split(' ').filter(Boolean);
  if (prompts.includes('consent') || prompts.includes('none')) return;
  params.set('prompt', [...prompts, 'consent'].join(' '));
}

/**
 * A JSON object body as the form the engine reads (decision 386): strings, numbers and
 * booleans as text; null as absent. Anything else (not an object, nested values) is
 * `invalid_request`, as a malformed form would be.
 */
function formFromJson(text: string): URLSearchParams {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('invalid_request', 'The body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('invalid_request', 'The JSON body must be an object of parameters');
  }
  const form = new URLSearchParams();
  for (const [name, field] of Object.entries(value)) {
    if (field === null || field === undefined) continue;
    if (typeof field !== 'string' && typeof field !== 'number' && typeof field !== 'boolean') {
      throw new AppError('invalid_request', `The parameter ${name} must be a string`);
    }
    form.set(name, String(field));
  }
  return form;
}

const jsonBody = (body: unknown): URLSearchParams | undefined =>
  typeof body === 'object' && body !== null && 'json' in body ? (body as { json: URLSearchParams }).json : undefined;

function moveParam(params: URLSearchParams, from: string, to: string) {
  const value = params.get(from);
  if (value !== null && !params.has(to)) params.set(to, value);
  params.delete(from);
}

/** HTTP Basic client authentication (RFC 6749 §2.3.1) with the secret replaced by its digest. */
function digestBasicSecret(masterKey: Buffer, header: string): string {
  const credentials = parseBasicCredentials(header);
  if (!credentials?.secret) return header;
  const digest = clientSecretDigest(masterKey, credentials.secret);
  return `Basic ${Buffer.from(`${credentials.rawId}:${digest}`, 'utf8').toString('base64')}`;
}
