import type { AuthInfo } from './auth-info.js';
import { type AuthError, InsufficientPermissionsError, InsufficientScopeError, OrganizationError } from './errors.js';

/**
 * The checks behind `requirePermissions`, `requireScopes` and `requireOrganization`, for
 * both adapters and for code that calls the verifier directly. Each throws an `AuthError`
 * (403) or returns nothing.
 */

/** A list of names, or one space-separated string (as in an OAuth `scope`). */
export type NameList = string | readonly string[];

export function names(list: NameList, what: string): string[] {
  const result = typeof list === 'string' ? list.split(' ').filter(Boolean) : [...list];
  if (result.length === 0 || !result.every((name) => typeof name === 'string' && name !== '')) {
    throw new TypeError(`${what}: give at least one non-empty name`);
  }
  return result;
}

/** A 403 for a DPoP-bound token is challenged with the DPoP scheme (RFC 9449 §7.1). */
function refusal<E extends AuthError>(auth: AuthInfo, error: E): E {
  if (auth.tokenType === 'DPoP') error.challengeScheme = 'DPoP';
  return error;
}

/** Every required permission must be in the token's `permissions` or in its `scope` (as Auth0's claimIncludes / requiredScopes). */
export function assertPermissions(auth: AuthInfo, required: readonly string[]): void {
  const missing = required.filter((p) => !auth.permissions.includes(p) && !auth.scope.includes(p));
  if (missing.length > 0) throw refusal(auth, new InsufficientPermissionsError([...required], missing));
}

/** Every required scope must be in the token's `scope`. */
export function assertScopes(auth: AuthInfo, required: readonly string[]): void {
  const missing = required.filter((s) => !auth.scope.includes(s));
  if (missing.length > 0) throw refusal(auth, new InsufficientScopeError([...required], missing));
}

/** The token must be issued for an organization (`org_id`), and for `orgId` when given. */
export function assertOrganization(auth: AuthInfo, orgId?: string): void {
  if (auth.orgId === undefined) throw refusal(auth, new OrganizationError('organization_required'));
  if (orgId !== undefined && auth.orgId !== orgId) throw refusal(auth, new OrganizationError('wrong_organization'));
}
