/**
 * The plain `fetch`-handler adapter (`Request` → `Response`), for runtimes and frameworks
 * built on the Fetch API: Node's own `fetch`-style servers, Hono, Cloudflare Workers, Deno,
 * Bun, Next.js route handlers.
 *
 *   const protect = requireAuth({ issuer, audience });
 *   export default {
 *     fetch: protect(async (request, auth) => Response.json({ sub: auth.sub }), { permissions: ['read:invoices'] }),
 *   };
 *
 * The wrapped handler receives the request, the verified `AuthInfo`, then whatever else the
 * runtime passes (a Worker's `env` and `ctx`). Failures answer with a `{ error, message }`
 * JSON body, the status of the error (401, 400, 403, 503) and a `WWW-Authenticate`
 * challenge (`Bearer` or `DPoP`); any other error is thrown to the runtime.
 */
import type { AuthInfo } from './auth-info.js';
import { assertOrganization, assertPermissions, assertScopes, type NameList, names } from './authorize.js';
import { AuthError, errorResponse } from './errors.js';
import { createVerifier, type RequestInfo, type Verifier, type VerifierOptions } from './verifier.js';

export type { AuthInfo } from './auth-info.js';

/** What a route requires beyond a valid token; each is checked as `requirePermissions` and the others do in the other adapters. */
export interface Requirements {
  /** Every listed permission, in `permissions` or `scope` (else 403 `insufficient_permissions`). */
  permissions?: NameList;
  /** Every listed scope, in `scope` (else 403 `insufficient_scope`). */
  scopes?: NameList;
  /** `true`: any organization (`org_id`); a string: that organization (else 403). */
  organization?: boolean | string;
}

export type AuthedHandler<Args extends unknown[]> = (request: Request, auth: AuthInfo, ...args: Args) => Response | Promise<Response>;
export type FetchHandler<Args extends unknown[]> = (request: Request, ...args: Args) => Promise<Response>;

/** The request's method, URL and headers, for the verifier. Behind a proxy that rewrites the URL, set `dpop.baseUrl`. */
export function requestInfo(request: Request): RequestInfo {
  return {
    method: request.method,
    url: request.url,
    headers: { authorization: request.headers.get('authorization') ?? undefined, dpop: request.headers.get('dpop') ?? undefined },
  };
}

/** The checks of `requirements` as one function, names validated once. */
function requirementCheck(requirements: Requirements = {}): (auth: AuthInfo) => void {
  const permissions = requirements.permissions === undefined ? undefined : names(requirements.permissions, 'permissions');
  const scopes = requirements.scopes === undefined ? undefined : names(requirements.scopes, 'scopes');
  const { organization } = requirements;
  return (auth) => {
    if (permissions) assertPermissions(auth, permissions);
    if (scopes) assertScopes(auth, scopes);
    if (organization !== undefined && organization !== false) assertOrganization(auth, organization === true ? undefined : organization);
  };
}

/**
 * Verifies the request's token (Bearer, or DPoP with its proof) and checks the
 * requirements; resolves with the `AuthInfo`, or rejects with an `AuthError` (turn it into
 * a response with `toResponse`). For frameworks with their own middleware (Hono: `c.req.raw`).
 */
export async function authenticate(verifier: Verifier, request: Request, requirements?: Requirements): Promise<AuthInfo> {
  const auth = await verifier.verifyRequest(requestInfo(request));
  requirementCheck(requirements)(auth);
  return auth;
}

/** The JSON response for an `AuthError`, with its status and `WWW-Authenticate` challenge. */
export function toResponse(error: AuthError): Response {
  const { status, headers, body } = errorResponse(error);
  return Response.json(body, { status, headers });
}

/**
 * Takes verifier options, or a verifier to share; returns `protect(handler, requirements?)`,
 * which wraps a handler so that it runs only for requests with a valid token meeting the requirements.
 */
export function requireAuth(options: VerifierOptions | Verifier) {
  const verifier = 'verify' in options ? options : createVerifier(options);
  return function protect<Args extends unknown[]>(handler: AuthedHandler<Args>, requirements?: Requirements): FetchHandler<Args> {
    const check = requirementCheck(requirements);
    return async (request, ...args) => {
      let auth: AuthInfo;
      try {
        auth = await verifier.verifyRequest(requestInfo(request));
        check(auth);
      } catch (error) {
        if (error instanceof AuthError) return toResponse(error);
        throw error;
      }
      return handler(request, auth, ...args);
    };
  };
}
