export type { AccessTokenPayload, AuthInfo } from './auth-info.js';
export { assertOrganization, assertPermissions, assertScopes, type NameList } from './authorize.js';
export { bearerToken, type PresentedToken, presentedToken } from './bearer.js';
export {
  DPOP_ALGORITHMS,
  DPOP_CLOCK_TOLERANCE_S,
  DPOP_MAX_AGE_S,
  DPOP_REPLAY_CACHE_SIZE,
  type DPoPAlgorithm,
  type DPoPOptions,
} from './dpop.js';
export {
  AuthError,
  type AuthErrorCode,
  type AuthErrorResponse,
  type ChallengeScheme,
  errorResponse,
  InsufficientPermissionsError,
  InsufficientScopeError,
  IntrospectionUnavailableError,
  InvalidDPoPProofError,
  type InvalidDPoPProofReason,
  InvalidRequestError,
  InvalidTokenError,
  type InvalidTokenReason,
  JwksUnavailableError,
  MissingTokenError,
  OrganizationError,
} from './errors.js';
export { REVOCATION_CACHE_MAX_AGE_MS, REVOCATION_CACHE_SIZE, type RevocationOptions } from './revocation.js';
export {
  ASYMMETRIC_ALGORITHMS,
  type AsymmetricAlgorithm,
  createVerifier,
  JWKS_CACHE_MAX_AGE_MS,
  JWKS_COOLDOWN_MS,
  type JwksVerifierOptions,
  type RequestInfo,
  type SecretVerifierOptions,
  type Verifier,
  type VerifierOptions,
} from './verifier.js';
