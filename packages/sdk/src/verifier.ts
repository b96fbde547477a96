import { decodeProtectedHeader, errors, type JWSHeaderParameters, type JWTPayload, type JWTVerifyOptions, jwtVerify } from 'jose';
import { type AuthInfo, toAuthInfo } from './auth-info.js';
import { bearerToken, type PresentedToken, presentedToken } from './bearer.js';
import { createProofVerifier, type DPoPOptions } from './dpop.js';
import { AuthError, InvalidRequestError, InvalidTokenError, type InvalidTokenReason, JwksUnavailableError } from './errors.js';
import { createKeySet, type KeySet } from './key-set.js';
import { createRevocationCheck, type RevocationOptions } from './revocation.js';

/** Asymmetric JWS algorithms: a key set can only hold public keys for these. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

interface CommonOptions {
  /** Gatehouse's issuer (`GATEHOUSE_ISSUER`), compared exactly with the token's `iss`. */
  issuer: string;
  /** The API's identifier; the token's `aud` must contain it (or one of them). */
  audience: string | string[];
  /** Leeway for `exp`, `nbf` and `iat`: seconds, or a string such as `'5s'`. Default 5 seconds. */
  clockTolerance?: number | string;
  /**
   * DPoP (RFC 9449). Tokens bound to a key (`cnf.jkt`) are always refused without a valid
   * proof; these options tune the proof checks, and `required: true` refuses bearer tokens.
   */
  dpop?: DPoPOptions;
  /** The online revocation check through Gatehouse's introspection endpoint. Off unless given. */
  revocation?: RevocationOptions;
}

/** The parts of an HTTP request the verifier reads: `verifyRequest`'s argument. */
export interface RequestInfo {
  /** The HTTP method, upper case (`GET`). */
  method: string;
  /** The absolute URL the client called (the query is ignored); the DPoP proof's `htu` must name it. */
  url: string | URL;
  headers: {
    authorization?: string | string[] | undefined;
    dpop?: string | string[] | undefined;
  };
}

/** Tokens signed with a key of Gatehouse's JWKS (the default: RS256 keys). */
export interface JwksVerifierOptions extends CommonOptions {
  /** Default `${issuer}/.well-known/jwks.json`. */
  jwksUri?: string | URL;
  /** Allowed signing algorithms, asymmetric only. Default: all of `ASYMMETRIC_ALGORITHMS`. */
  algorithms?: AsymmetricAlgorithm[];
  /** Caching of the key set; the defaults suit nearly everyone. */
  jwks?: {
    /** How long a fetched key set is used before it is fetched again (ms). Default 30 s, the JWKS's `max-age`. */
    cacheMaxAge?: number;
    /** After a fetch, an unknown `kid` causes no new fetch for this long (ms). Default 5 s. */
    cooldownDuration?: number;
    /** Timeout of one fetch (ms). Default 5 s. */
    timeoutDuration?: number;
  };
  secret?: undefined;
}

/** Tokens of an API configured for HS256 with a shared secret: only HS256 is accepted, for that one API's identifier. */
export interface SecretVerifierOptions extends CommonOptions {
  /** The API's shared secret, at least 32 bytes (RFC 7518 §3.2). */
  secret: string | Uint8Array;
  algorithms?: ['HS256'];
  jwksUri?: undefined;
  jwks?: undefined;
}

export type VerifierOptions = JwksVerifierOptions | SecretVerifierOptions;

export interface Verifier {
  /**
   * Verifies a bearer access token; rejects with an `AuthError` (`InvalidTokenError`,
   * `JwksUnavailableError`, ...). A DPoP-bound token is refused here (`dpop_required`): its
   * proof needs the request, so verify it with `verifyRequest`.
   */
  verify(token: string): Promise<AuthInfo>;
  /** Reads the bearer token of an `Authorization` header, then verifies it as `verify` does. */
  verifyAuthorization(authorization: string | string[] | undefined): Promise<AuthInfo>;
  /**
   * Verifies the access token of a request, `Authorization: Bearer` or `Authorization: DPoP`
   * with its `DPoP` proof: what the adapters call. Every `AuthError` it rejects with carries
   * the challenge scheme to answer with (`DPoP` when the request used it, the token is bound
   * or DPoP is required).
   */
  verifyRequest(request: RequestInfo): Promise<AuthInfo>;
  /** Whether bearer tokens are refused (`dpop.required`), and the proof algorithms accepted. */
  readonly dpop: { readonly required: boolean; readonly algorithms: readonly string[] };
}

/**
 * Media types of access tokens: RFC 9068's `at+jwt`, and plain `JWT` as other OAuth
 * servers issue. The `application/` prefix may be present, and case does not matter
 * (RFC 7515 §4.1.9). A token without `typ` is refused.
 */
const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'jwt']);
const isAccessTokenType = (typ: string | undefined) =>
  typ !== undefined && ACCESS_TOKEN_TYPES.has(typ.toLowerCase().replace(/^application\//, ''));

/**
 * Key set defaults, with Gatehouse's JWKS `max-age` (30 s): a key Gatehouse withdraws (a
 * rotation with `retire_now`) is refused within 30 s, and a newly rotated key, published as
 * `next` before it signs, is held already; an unknown `kid` (two rotations within 30 s)
 * refetches at once, at most once per 5 s.
 */
export const JWKS_CACHE_MAX_AGE_MS = 30_000;
export const JWKS_COOLDOWN_MS = 5_000;
const DEFAULT_CLOCK_TOLERANCE_S = 5;
const MIN_SECRET_BYTES = 32;
const KNOWN_HEADERS_MAX = 64;

export function createVerifier(options: VerifierOptions): Verifier {
  if (typeof options?.issuer !== 'string' || options.issuer === '') throw new TypeError('createVerifier: "issuer" is required');
  const audiences = Array.isArray(options.audience) ? options.audience : [options.audience];
  if (audiences.length === 0 || !audiences.every((a) => typeof a === 'string' && a !== '')) {
    throw new TypeError('createVerifier: "audience" is required');
  }
  const { keys, algorithms } = options.secret !== undefined ? secretKey(options) : remoteKeySet(options);
  const allowed = new Set(algorithms);
  const verifyOptions: JWTVerifyOptions = {
    issuer: options.issuer,
    audience: options.audience,
    algorithms,
    clockTolerance: options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE_S,
    requiredClaims: ['exp', 'sub'],
  };

  const proofs = createProofVerifier(options.dpop);
  const dpopRequired = options.dpop?.required === true;
  const revocation = options.revocation ? createRevocationCheck(options.issuer, options.revocation) : undefined;

  // The protected headers of tokens that verified, by their encoded form: a key set's tokens share a
  // handful of them, so most verifications skip decoding one. Bounded, and filled only by valid tokens.
  const knownHeaders = new Map<string, JWSHeaderParameters>();

  /** The checks of the token alone: signature, issuer, audience, lifetime, type, claims. */
  async function verifyToken(token: string): Promise<AuthInfo> {
    const encodedHeader = typeof token === 'string' ? token.slice(0, token.indexOf('.')) : '';
    let header = knownHeaders.get(encodedHeader);
    if (!header) {
      try {
        header = decodeProtectedHeader(token);
      } catch (error) {
        throw new InvalidTokenError('malformed', undefined, { cause: error });
      }
    }
    // Refused before any key is looked up: `none`, HMAC in key-set mode, anything else not listed.
    if (typeof header.alg !== 'string' || !allowed.has(header.alg)) throw new InvalidTokenError('alg_not_allowed');
    if (!isAccessTokenType(header.typ)) throw new InvalidTokenError('wrong_type');
    let payload: JWTPayload;
    try {
      const key = keys instanceof Uint8Array ? keys : await keys.key(header);
      ({ payload } = await jwtVerify(token, key, verifyOptions));
    } catch (error) {
      throw translate(error);
    }
    const auth = toAuthInfo(token, payload);
    if (!knownHeaders.has(encodedHeader)) {
      if (knownHeaders.size >= KNOWN_HEADERS_MAX) knownHeaders.clear();
      knownHeaders.set(encodedHeader, header);
    }
    return auth;
  }

  /** Tags an error with the DPoP challenge when the exchange is DPoP's. */
  function challenge(error: unknown, dpop: boolean): never {
    if (error instanceof AuthError && (dpop || dpopRequired || error.challengeScheme === 'DPoP')) {
      error.challengeScheme = 'DPoP';
      error.dpopAlgorithms = proofs.algorithms;
    }
    throw error;
  }

  /** The token and, for a DPoP-bound one, its proof; then the online check. */
  async function verifyPresented(presented: PresentedToken, request: RequestInfo | undefined): Promise<AuthInfo> {
    if (dpopRequired && presented.scheme === 'Bearer') throw new InvalidTokenError('dpop_required');
    const auth = await verifyToken(presented.token);
    const jkt = auth.payload.cnf?.jkt;
    if (presented.scheme === 'Bearer') {
      // RFC 9449 §7.2: a bound token sent as a bearer token is refused (no downgrade).
      if (jkt !== undefined) {
        const error = new InvalidTokenError('dpop_required');
        error.challengeScheme = 'DPoP';
        throw error;
      }
    } else {
      if (jkt === undefined) throw new InvalidTokenError('not_dpop_bound');
      if (!request) throw new InvalidRequestError('A DPoP-bound token needs the request to check its proof: use verifyRequest');
      await proofs.verify({ method: request.method, url: request.url, proof: request.headers.dpop, accessToken: presented.token, jkt });
      auth.tokenType = 'DPoP';
      auth.jkt = jkt;
    }
    await revocation?.check(presented.token, auth.payload.exp);
    return auth;
  }

  return {
    verify: (token) => verifyPresented({ scheme: 'Bearer', token }, undefined).catch((error) => challenge(error, false)),
    verifyAuthorization: async (authorization) => {
      try {
        return await verifyPresented({ scheme: 'Bearer', token: bearerToken(authorization) }, undefined);
      } catch (error) {
        return challenge(error, false);
      }
    },
    verifyRequest: async (request) => {
      let presented: PresentedToken | undefined;
      try {
        presented = presentedToken(request.headers.authorization);
        return await verifyPresented(presented, request);
      } catch (error) {
        const { authorization } = request.headers;
        return challenge(error, presented?.scheme === 'DPoP' || (typeof authorization === 'string' && /^DPoP(?: |$)/i.test(authorization)));
      }
    },
    dpop: { required: dpopRequired, algorithms: proofs.algorithms },
  };
}

function remoteKeySet(options: JwksVerifierOptions): { keys: KeySet; algorithms: string[] } {
  const algorithms = options.algorithms ?? [...ASYMMETRIC_ALGORITHMS];
  const unsupported = algorithms.filter((alg) => !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg));
  if (algorithms.length === 0 || unsupported.length > 0) {
    throw new TypeError(
      `createVerifier: with a key set, "algorithms" must be asymmetric (${ASYMMETRIC_ALGORITHMS.join(', ')}); got ${unsupported.join(', ') || 'none'}`,
    );
  }
  const jwksUri = options.jwksUri ?? `${options.issuer.replace(/\/+$/, '')}/.well-known/jwks.json`;
  const jwks = options.jwks ?? {};
  const keys = createKeySet(new URL(jwksUri), {
    cacheMaxAge: jwks.cacheMaxAge ?? JWKS_CACHE_MAX_AGE_MS,
    cooldownDuration: jwks.cooldownDuration ?? JWKS_COOLDOWN_MS,
    ...(jwks.timeoutDuration !== undefined && { timeoutDuration: jwks.timeoutDuration }),
  });
  return { keys, algorithms };
}

/**
 * An HS256 API's shared secret. It is that one API's (Gatehouse makes one per API), so it
 * verifies tokens for that API's identifier only: one audience. Whoever holds the secret
 * (Gatehouse, and the API's tenant administrators) can sign any claims with it; whether a
 * client still holds its grant or a user is still active is known to introspection only.
 */
function secretKey(options: SecretVerifierOptions): { keys: Uint8Array; algorithms: string[] } {
  if (options.jwksUri !== undefined) throw new TypeError('createVerifier: give either "secret" or "jwksUri", not both');
  if (Array.isArray(options.audience) && options.audience.length !== 1) {
    throw new TypeError('createVerifier: with a "secret", give exactly one audience: the identifier of the API the secret belongs to');
  }
  if (options.algorithms && (options.algorithms.length !== 1 || options.algorithms[0] !== 'HS256')) {
    throw new TypeError('createVerifier: with a "secret", the only algorithm is HS256');
  }
  const key = typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret;
  if (!(key instanceof Uint8Array) || key.byteLength < MIN_SECRET_BYTES) {
    throw new TypeError(`createVerifier: "secret" must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return { keys: key, algorithms: ['HS256'] };
}

const CLAIM_REASONS: Record<string, InvalidTokenReason> = { iss: 'wrong_issuer', aud: 'wrong_audience', nbf: 'not_yet_valid' };

/** jose's errors → `InvalidTokenError` with a reason; a key set that cannot be fetched → `JwksUnavailableError`. */
function translate(error: unknown): Error {
  if (error instanceof errors.JWTExpired) return new InvalidTokenError('expired', undefined, { cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return new InvalidTokenError('missing_claim', error.claim, { cause: error });
    const reason = CLAIM_REASONS[error.claim];
    return reason
      ? new InvalidTokenError(reason, undefined, { cause: error })
      : new InvalidTokenError('invalid_claim', error.claim, { cause: error });
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new InvalidTokenError('alg_not_allowed', undefined, { cause: error });
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new InvalidTokenError('unknown_kid', undefined, { cause: error });
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new InvalidTokenError('bad_signature', undefined, { cause: error });
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return new InvalidTokenError('malformed', undefined, { cause: error });
  }
  // What is left comes from fetching the key set: a timeout, a refused connection, a non-200, not JSON, not a key set.
  if (error instanceof errors.JOSEError || error instanceof TypeError) return new JwksUnavailableError({ cause: error });
  return error instanceof Error ? error : new Error(String(error));
}
