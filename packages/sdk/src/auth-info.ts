import type { JWTPayload } from 'jose';
import { InvalidTokenError } from './errors.js';

/** The claims of a Gatehouse access token (RFC 9068, plus the organization, roles and permissions). */
export interface AccessTokenPayload extends JWTPayload {
  iss: string;
  sub: string;
  exp: number;
  client_id?: string;
  /** Authorized party: the client, in tokens that carry no `client_id`. */
  azp?: string;
  /** Space-separated OAuth scopes. */
  scope?: string;
  org_id?: string;
  org_name?: string;
  roles?: string[];
  permissions?: string[];
  email?: string;
  name?: string | null;
  /** Confirmation (RFC 7800): a DPoP-bound token carries the SHA-256 JWK thumbprint of its key as `jkt` (RFC 9449 §6). */
  cnf?: { jkt?: string; [member: string]: unknown };
}

/** What a verified access token says: the raw token and payload, and the claims a resource server reads. */
export interface AuthInfo {
  token: string;
  payload: AccessTokenPayload;
  /** The user, or for client-credentials tokens the client. */
  sub: string;
  /** The client the token was issued to (`client_id`, else `azp`). */
  clientId: string;
  /** The `scope` claim, split on spaces; empty when absent. */
  scope: string[];
  /** The `permissions` claim; empty when absent. */
  permissions: string[];
  /** The `roles` claim; empty when absent. */
  roles: string[];
  /** The organization (tenant) the token was issued for, when one was selected. */
  orgId?: string;
  orgName?: string;
  /** How the token was presented: `DPoP` once its proof verified (RFC 9449), else `Bearer`. */
  tokenType: 'Bearer' | 'DPoP';
  /** A DPoP-bound token's key thumbprint (`cnf.jkt`), which the request's proof was signed with. */
  jkt?: string;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const optional = (value: unknown, check: (value: unknown) => boolean) => value === undefined || check(value);
const stringArray = (value: unknown) => Array.isArray(value) && value.every(isString);
/** A base64url SHA-256 digest: 43 characters. */
const isThumbprint = (value: unknown) => isString(value) && /^[A-Za-z0-9_-]{43}$/.test(value);

/**
 * Checks the types of the claims the SDK reads (after jose has checked signature, issuer,
 * audience and lifetime) and returns the `AuthInfo`. A claim of the wrong type means the
 * token was not made by Gatehouse, so it is refused rather than read loosely.
 */
export function toAuthInfo(token: string, payload: JWTPayload): AuthInfo {
  const claims = payload as AccessTokenPayload;
  if (!isString(claims.sub) || claims.sub === '') throw new InvalidTokenError('invalid_claim', 'sub');
  const clientId = claims.client_id ?? claims.azp;
  if (clientId === undefined) throw new InvalidTokenError('missing_claim', 'client_id');
  if (!isString(clientId)) throw new InvalidTokenError('invalid_claim', 'client_id');
  if (!optional(claims.scope, isString)) throw new InvalidTokenError('invalid_claim', 'scope');
  if (!optional(claims.permissions, stringArray)) throw new InvalidTokenError('invalid_claim', 'permissions');
  if (!optional(claims.roles, stringArray)) throw new InvalidTokenError('invalid_claim', 'roles');
  if (!optional(claims.org_id, isString)) throw new InvalidTokenError('invalid_claim', 'org_id');
  if (!optional(claims.org_name, isString)) throw new InvalidTokenError('invalid_claim', 'org_name');
  // A confirmation the SDK cannot check (mTLS's x5t#S256, a malformed jkt) is refused, never ignored.
  if (claims.cnf !== undefined) {
    const cnf = claims.cnf as unknown;
    if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) throw new InvalidTokenError('invalid_claim', 'cnf');
    const members = Object.keys(cnf);
    if (members.length !== 1 || members[0] !== 'jkt' || !isThumbprint(claims.cnf.jkt)) throw new InvalidTokenError('invalid_claim', 'cnf');
  }
  const info: AuthInfo = {
    token,
    payload: claims,
    sub: claims.sub,
    clientId,
    scope: claims.scope ? claims.scope.split(' ').filter(Boolean) : [],
    permissions: claims.permissions ?? [],
    roles: claims.roles ?? [],
    tokenType: 'Bearer',
  };
  if (claims.org_id !== undefined) info.orgId = claims.org_id;
  if (claims.org_name !== undefined) info.orgName = claims.org_name;
  return info;
}
