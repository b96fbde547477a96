export type { AccessTokenPayload, AuthInfo } from './auth-info.js';
export { assertOrganization, assertPermissions, assertScopes, type NameList } from './authorize.js';
export { bearerToken } from './bearer.js';
export {
  AuthError,
  type AuthErrorCode,
  type AuthErrorResponse,
  errorResponse,
  InsufficientPermissionsError,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  type InvalidTokenReason,
  JwksUnavailableError,
  MissingTokenError,
  OrganizationError,
} from './errors.js';
export {
  ASYMMETRIC_ALGORITHMS,
  type AsymmetricAlgorithm,
  createVerifier,
  JWKS_CACHE_MAX_AGE_MS,
  JWKS_COOLDOWN_MS,
  type JwksVerifierOptions,
  type SecretVerifierOptions,
  type Verifier,
  type VerifierOptions,
} from './verifier.js';
