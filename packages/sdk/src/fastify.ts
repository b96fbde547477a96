/**
 * Fastify hooks (Fastify 5):
 *
 *   app.addHook('onRequest', requireAuth({ issuer, audience }));
 *   app.get('/invoices', { onRequest: requirePermissions(['read:invoices']) }, handler); // handler reads request.auth
 *
 * A hook added with `addHook` covers the routes of its encapsulation context. Failures
 * answer at once with a `{ error, message }` JSON body, the status of the error (401, 400,
 * 403, 503) and, per RFC 6750 / RFC 9449, a `WWW-Authenticate: Bearer ...` or `DPoP ...` challenge. Any other error
 * is thrown to Fastify's error handler.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthInfo } from './auth-info.js';
import { assertOrganization, assertPermissions, assertScopes, type NameList, names } from './authorize.js';
import { AuthError, errorResponse } from './errors.js';
import { requestUrl } from './request-url.js';
import { createVerifier, type RequestInfo, type Verifier, type VerifierOptions } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireAuth` from the verified access token. */
    auth?: AuthInfo;
  }
}

export type { AuthInfo } from './auth-info.js';

/** An `onRequest` (or `preHandler`) hook. */
export type AuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/**
 * The request as the client made it, for the DPoP proof's `htm` and `htu`: Fastify's
 * protocol and host (which honour `trustProxy`) and the URL. Behind a proxy that rewrites
 * them, set the verifier's `dpop.baseUrl`.
 */
export function requestInfo(request: FastifyRequest): RequestInfo {
  const dpop = request.headers.dpop;
  return {
    method: request.method,
    url: requestUrl(request.protocol, request.host, request.url),
    headers: { authorization: request.headers.authorization, dpop },
  };
}

/** Verifies the access token (Bearer, or DPoP with its proof) and sets `request.auth`. Takes verifier options, or a verifier to share with other hooks. */
export function requireAuth(options: VerifierOptions | Verifier): AuthHook {
  const verifier = 'verify' in options ? options : createVerifier(options);
  return async (request, reply) => {
    try {
      request.auth = await verifier.verifyRequest(requestInfo(request));
    } catch (error) {
      return fail(error, reply);
    }
    return undefined;
  };
}

/** Every listed permission is required, in the token's `permissions` or its `scope`; else 403 `insufficient_permissions`. */
export function requirePermissions(permissions: NameList): AuthHook {
  const required = names(permissions, 'requirePermissions');
  return guard('requirePermissions', (auth) => assertPermissions(auth, required));
}

/** Every listed scope is required in the token's `scope`; else 403 `insufficient_scope`. */
export function requireScopes(scopes: NameList): AuthHook {
  const required = names(scopes, 'requireScopes');
  return guard('requireScopes', (auth) => assertScopes(auth, required));
}

/** The token must carry an `org_id` (403 `organization_required`), equal to `orgId` when given (403 `wrong_organization`). */
export function requireOrganization(orgId?: string): AuthHook {
  return guard('requireOrganization', (auth) => assertOrganization(auth, orgId));
}

function guard(name: string, check: (auth: AuthInfo) => void): AuthHook {
  return async (request, reply) => {
    if (!request.auth) throw new Error(`${name}() needs requireAuth() to run before it`);
    try {
      check(request.auth);
    } catch (error) {
      return fail(error, reply);
    }
    return undefined;
  };
}

function fail(error: unknown, reply: FastifyReply): FastifyReply {
  if (!(error instanceof AuthError)) throw error;
  const { status, headers, body } = errorResponse(error);
  return reply.code(status).headers(headers).send(body);
}
