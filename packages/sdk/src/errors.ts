/**
 * The SDK's one error vocabulary. Every failure of authentication or authorization is an
 * `AuthError` with a stable `code`, the HTTP `status` to answer with and, where RFC 6750
 * asks for one, the `WWW-Authenticate` challenge. The Express and Fastify adapters turn it
 * into a response with `errorResponse()`; code that calls the verifier directly can do the same.
 */

/** Why a token was refused: stable values, safe to log and to show the client. */
export type InvalidTokenReason =
  | 'malformed'
  | 'alg_not_allowed'
  | 'unknown_kid'
  | 'bad_signature'
  | 'wrong_type'
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'missing_claim'
  | 'invalid_claim'
  /** Introspection answered `active: false`: revoked, or its user, grant or client is gone. */
  | 'revoked'
  /** A DPoP-bound token (`cnf.jkt`) sent as a bearer token, or a bearer token where DPoP is required. */
  | 'dpop_required'
  /** The `DPoP` scheme with a token that is not bound to a key. */
  | 'not_dpop_bound';

/** Why a DPoP proof (RFC 9449 §4.3) was refused: stable values, safe to log and to show the client. */
export type InvalidDPoPProofReason =
  | 'missing'
  | 'malformed'
  | 'wrong_type'
  | 'alg_not_allowed'
  | 'bad_key'
  | 'bad_signature'
  | 'missing_claim'
  | 'wrong_method'
  | 'wrong_url'
  | 'stale'
  | 'not_yet_valid'
  | 'replayed'
  | 'wrong_ath'
  | 'wrong_key';

export type AuthErrorCode =
  | 'unauthorized'
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'insufficient_permissions'
  | 'organization_required'
  | 'wrong_organization'
  | 'invalid_dpop_proof'
  | 'temporarily_unavailable';

/** The authentication scheme of a challenge: `Bearer` (RFC 6750) or `DPoP` (RFC 9449 §7.1). */
export type ChallengeScheme = 'Bearer' | 'DPoP';

export abstract class AuthError extends Error {
  abstract readonly code: AuthErrorCode;
  abstract readonly status: 400 | 401 | 403 | 503;
  /** The RFC 6750 / RFC 9449 error code for the `WWW-Authenticate` challenge, when the response carries one with an error. */
  readonly challengeError: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | undefined = undefined;
  /** Extra auth-params of the challenge (e.g. `scope`). */
  readonly challengeParams: Record<string, string> = {};
  /**
   * The scheme of the challenge: `DPoP` when the request used the DPoP scheme, the token is
   * DPoP-bound or the verifier requires DPoP; set by the verifier and the adapters. Default `Bearer`.
   */
  challengeScheme: ChallengeScheme = 'Bearer';
  /** With the `DPoP` scheme: the proof algorithms accepted, sent as the challenge's `algs` (RFC 9449 §7.1). */
  dpopAlgorithms: readonly string[] | undefined = undefined;
}

/** No bearer token in the request (RFC 6750 §3.1: the challenge then carries no error code). */
export class MissingTokenError extends AuthError {
  readonly code = 'unauthorized';
  readonly status = 401;
  constructor() {
    super('An access token is required');
    this.name = 'MissingTokenError';
  }
}

/** A malformed `Authorization` header. */
export class InvalidRequestError extends AuthError {
  readonly code = 'invalid_request';
  readonly status = 400;
  override readonly challengeError = 'invalid_request';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

const REASON_MESSAGES: Record<InvalidTokenReason, string> = {
  malformed: 'The access token is malformed',
  alg_not_allowed: 'The access token is signed with an algorithm that is not allowed',
  unknown_kid: 'The access token is signed with an unknown key',
  bad_signature: 'The access token signature is invalid',
  wrong_type: 'The token is not an access token',
  expired: 'The access token expired',
  not_yet_valid: 'The access token is not valid yet',
  wrong_issuer: 'The access token has the wrong issuer',
  wrong_audience: 'The access token is not meant for this API',
  missing_claim: 'The access token lacks a required claim',
  invalid_claim: 'The access token has an invalid claim',
  revoked: 'The access token is no longer active',
  dpop_required: 'The access token must be sent with the DPoP scheme and a DPoP proof',
  not_dpop_bound: 'The access token is not bound to a DPoP key: send it with the Bearer scheme',
};

/** The token was presented but is not valid: bad signature, wrong issuer or audience, expired, ... */
export class InvalidTokenError extends AuthError {
  readonly code = 'invalid_token';
  readonly status = 401;
  override readonly challengeError = 'invalid_token';
  constructor(
    readonly reason: InvalidTokenReason,
    detail?: string,
    options?: ErrorOptions,
  ) {
    super(detail ? `${REASON_MESSAGES[reason]}: ${detail}` : REASON_MESSAGES[reason], options);
    this.name = 'InvalidTokenError';
  }
}

const PROOF_MESSAGES: Record<InvalidDPoPProofReason, string> = {
  missing: 'A DPoP proof is required',
  malformed: 'The DPoP proof is malformed',
  wrong_type: 'The DPoP proof must have typ dpop+jwt',
  alg_not_allowed: 'The DPoP proof is signed with an algorithm that is not allowed',
  bad_key: 'The DPoP proof must carry a public signing key in its jwk header',
  bad_signature: 'The DPoP proof signature is invalid',
  missing_claim: 'The DPoP proof lacks a required claim',
  wrong_method: 'The DPoP proof is for another HTTP method',
  wrong_url: 'The DPoP proof is for another URL',
  stale: 'The DPoP proof is too old',
  not_yet_valid: 'The DPoP proof is issued in the future',
  replayed: 'The DPoP proof was already used',
  wrong_ath: 'The DPoP proof is for another access token',
  wrong_key: 'The DPoP proof is signed with another key than the access token is bound to',
};

/** The `DPoP` proof of the request is missing or refused (RFC 9449 §7.1: `invalid_dpop_proof`). */
export class InvalidDPoPProofError extends AuthError {
  readonly code = 'invalid_dpop_proof';
  readonly status = 401;
  override readonly challengeError = 'invalid_dpop_proof';
  constructor(
    readonly reason: InvalidDPoPProofReason,
    detail?: string,
    options?: ErrorOptions,
  ) {
    super(detail ? `${PROOF_MESSAGES[reason]}: ${detail}` : PROOF_MESSAGES[reason], options);
    this.name = 'InvalidDPoPProofError';
    this.challengeScheme = 'DPoP';
  }
}

/** The token lacks a required OAuth scope. */
export class InsufficientScopeError extends AuthError {
  readonly code: 'insufficient_scope' | 'insufficient_permissions' = 'insufficient_scope';
  readonly status = 403;
  override readonly challengeError = 'insufficient_scope';
  override readonly challengeParams: Record<string, string>;
  constructor(
    /** Everything the route requires (not only what is missing), as RFC 6750 §3 asks of the `scope` param. */
    readonly required: string[],
    readonly missing: string[],
  ) {
    super(`Missing required scope: ${missing.join(' ')}`);
    this.name = 'InsufficientScopeError';
    this.challengeParams = { scope: required.join(' ') };
  }
}

/** The token carries neither in `permissions` nor in `scope` a permission the route requires. */
export class InsufficientPermissionsError extends InsufficientScopeError {
  override readonly code = 'insufficient_permissions';
  constructor(required: string[], missing: string[]) {
    super(required, missing);
    this.message = `Missing required permission: ${missing.join(' ')}`;
    this.name = 'InsufficientPermissionsError';
  }
}

/** The route needs a token issued for an organization (an `org_id` claim), or for one given organization. */
export class OrganizationError extends AuthError {
  readonly status = 403;
  constructor(readonly code: 'organization_required' | 'wrong_organization') {
    super(
      code === 'organization_required'
        ? 'The access token must be issued for an organization'
        : 'The access token is issued for another organization',
    );
    this.name = 'OrganizationError';
  }
}

/** The key set could not be fetched: the token may be fine, so this is not the client's fault. */
export class JwksUnavailableError extends AuthError {
  readonly code = 'temporarily_unavailable';
  readonly status = 503;
  constructor(options?: ErrorOptions) {
    super('The signing keys could not be fetched', options);
    this.name = 'JwksUnavailableError';
  }
}

/**
 * The online revocation check could not get an answer from Gatehouse's introspection
 * endpoint (unreachable, timeout, not 200, not RFC 7662). With `failOpen: false` (the
 * default) the request is refused with 503: the token may be fine, but nobody can tell.
 */
export class IntrospectionUnavailableError extends AuthError {
  readonly code = 'temporarily_unavailable';
  readonly status = 503;
  constructor(detail: string, options?: ErrorOptions) {
    super(`The token could not be checked with Gatehouse: ${detail}`, options);
    this.name = 'IntrospectionUnavailableError';
  }
}

/** An HTTP response for an `AuthError`: status, headers and a `{ error, message }` JSON body. */
export interface AuthErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: AuthErrorCode; message: string };
}

/** RFC 6750 §3: error_description is limited to printable ASCII without `"` and `\`. */
const quotable = (value: string) => value.replace(/[^\x20-\x21\x23-\x5B\x5D-\x7E]/g, '');

export function errorResponse(error: AuthError): AuthErrorResponse {
  const headers: Record<string, string> = {};
  if (error.status === 401 || error.challengeError) {
    const params = error.challengeError
      ? { error: error.challengeError, error_description: error.message, ...error.challengeParams }
      : error.challengeParams;
    const scheme = error.challengeScheme;
    const all = scheme === 'DPoP' && error.dpopAlgorithms ? { ...params, algs: error.dpopAlgorithms.join(' ') } : params;
    const list = Object.entries(all).map(([key, value]) => `${key}="${quotable(value)}"`);
    headers['www-authenticate'] = list.length ? `${scheme} ${list.join(', ')}` : scheme;
  }
  return { status: error.status, headers, body: { error: error.code, message: error.message } };
}
