/**
 * Express middleware (Express 4 and 5):
 *
 *   app.use(requireAuth({ issuer, audience }));
 *   app.get('/invoices', requirePermissions(['read:invoices']), (req, res) => { const { sub } = getAuth(req); ... });
 *
 * `requireAuth` sets `req.auth`. Its type is not merged into Express's `Request` here,
 * because other middleware (Auth0's express-oauth2-jwt-bearer, express-jwt) declare a
 * `req.auth` of their own and two declarations cannot coexist: read it with `getAuth(req)`,
 * or opt in to a typed `req.auth` with `import '@gatehouse/sdk/express-request'`.
 *
 * Failures answer at once with a `{ error, message }` JSON body, the status of the error
 * (401, 400, 403, 503) and, per RFC 6750 / RFC 9449, a `WWW-Authenticate: Bearer ...` or
 * `DPoP ...` challenge.
 * Any other error goes to `next(error)`.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuthInfo } from './auth-info.js';
import { assertOrganization, assertPermissions, assertScopes, type NameList, names } from './authorize.js';
import { AuthError, errorResponse } from './errors.js';
import { requestUrl } from './request-url.js';
import { createVerifier, type RequestInfo, type Verifier, type VerifierOptions } from './verifier.js';

export type { AuthInfo } from './auth-info.js';

/** Verifies the access token (Bearer, or DPoP with its proof) and sets `req.auth`. Takes verifier options, or a verifier to share with other middleware. */
export function requireAuth(options: VerifierOptions | Verifier): RequestHandler {
  const verifier = 'verify' in options ? options : createVerifier(options);
  return (req, res, next) => {
    verifier.verifyRequest(requestInfo(req)).then(
      (auth) => {
        (req as unknown as WithAuth).auth = auth;
        next();
      },
      (error: unknown) => fail(error, res, next),
    );
  };
}

/** Every listed permission is required, in the token's `permissions` or its `scope`; else 403 `insufficient_permissions`. */
export function requirePermissions(permissions: NameList): RequestHandler {
  const required = names(permissions, 'requirePermissions');
  return guard('requirePermissions', (auth) => assertPermissions(auth, required));
}

/** Every listed scope is required in the token's `scope`; else 403 `insufficient_scope`. */
export function requireScopes(scopes: NameList): RequestHandler {
  const required = names(scopes, 'requireScopes');
  return guard('requireScopes', (auth) => assertScopes(auth, required));
}

/** The token must carry an `org_id` (403 `organization_required`), equal to `orgId` when given (403 `wrong_organization`). */
export function requireOrganization(orgId?: string): RequestHandler {
  return guard('requireOrganization', (auth) => assertOrganization(auth, orgId));
}

/**
 * The request as the client made it, for the DPoP proof's `htm` and `htu`: Express's
 * protocol, the host and the original URL. With `trust proxy`, the scheme and host come from
 * `X-Forwarded-Proto` and `X-Forwarded-Host` when the proxy is trusted. Behind a proxy that
 * rewrites more (a path prefix), set the verifier's `dpop.baseUrl`.
 */
export function requestInfo(req: Request): RequestInfo {
  return {
    method: req.method,
    url: requestUrl(req.protocol, host(req), req.originalUrl),
    headers: { authorization: req.headers.authorization, dpop: req.headers.dpop },
  };
}

/**
 * Express 5's `req.host`, port included, computed here as Express 5 does so that Express 4
 * (whose `req.host` drops the port) gets it too: `X-Forwarded-Host` (its first value) when
 * `trust proxy` trusts the peer, else `Host`.
 */
function host(req: Request): string {
  const trust = req.app.get('trust proxy fn') as ((address: string | undefined, hop: number) => boolean) | undefined;
  const forwarded = req.get('x-forwarded-host');
  const value = forwarded && trust?.(req.socket.remoteAddress, 0) ? forwarded.split(',')[0]!.trim() : req.get('host');
  return value || 'localhost';
}

interface WithAuth {
  auth?: AuthInfo;
}

/** The `AuthInfo` that `requireAuth` set on the request; throws when it did not run. */
export function getAuth(req: Request): AuthInfo {
  const { auth } = req as unknown as WithAuth;
  if (!auth) throw new Error('getAuth(req) needs requireAuth() to run before');
  return auth;
}

function guard(name: string, check: (auth: AuthInfo) => void): RequestHandler {
  return (req, res, next) => {
    const { auth } = req as unknown as WithAuth;
    if (!auth) return next(new Error(`${name}() needs requireAuth() to run before it`));
    try {
      check(auth);
    } catch (error) {
      return fail(error, res, next);
    }
    next();
  };
}

function fail(error: unknown, res: Response, next: NextFunction): void {
  if (error instanceof AuthError) {
    const { status, headers, body } = errorResponse(error);
    res.status(status).set(headers).json(body);
  } else {
    next(error);
  }
}
