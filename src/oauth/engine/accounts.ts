import type { Account, AccountClaims } from 'oidc-provider';
import type { User } from '../../platform/db/schema.js';
import { isUuid } from '../../platform/ids.js';
import type { OidcContext } from './lookups.js';
import { prefetchedUser } from './prefetch.js';

/** OpenID Connect standard claims by scope (Core §5.4), from our user record. */
export const CLAIMS = {
  // The organization chosen for the authorization, as Auth0 puts it in the ID token; and
  // how the user signed in (RFC 8176 `amr`) and whether that was multi-factor (`acr`).
  openid: ['sub', 'org_id', 'org_name', 'amr', 'acr'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'picture', 'locale', 'preferred_username', 'updated_at'],
};

export function standardClaims(user: User): AccountClaims {
  return {
    sub: user.id,
    email: user.email,
    email_verified: user.email_verified,
    name: user.name ?? undefined,
    given_name: user.given_name ?? undefined,
    family_name: user.family_name ?? undefined,
    picture: user.picture ?? undefined,
    locale: user.locale ?? undefined,
    preferred_username: user.username ?? undefined,
    updated_at: Math.floor(user.updated_at.getTime() / 1000),
  };
}

/**
 * The engine's account lookup. A user who is not active has no account: authorization,
 * refresh and userinfo all fail for them at once (docs/security.md#v3-session-management). With the grant of the token
 * at hand, the claims include the organization chosen for it.
 */
export async function findAccount(
  ctx: OidcContext,
  userId: string,
  grantId?: string,
  request?: object,
): Promise<(Account & { user: User }) | undefined> {
  if (!isUuid(userId)) return undefined;
  // Read with the token in this request (prefetch.ts), or now.
  const read = prefetchedUser(request, userId);
  const user =
    read !== undefined
      ? read
      : await ctx.db.selectFrom('users').selectAll().where('id', '=', userId).where('status', '=', 'active').executeTakeFirst();
  if (!user) return undefined;
  const organization = await ctx.lookups.grantOrganization(grantId);
  const claims = { ...standardClaims(user), ...(organization && { org_id: organization.id, org_name: organization.name }) };
  return { accountId: user.id, user, claims: () => claims };
}
