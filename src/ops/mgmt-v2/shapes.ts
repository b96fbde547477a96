import { Type } from '@sinclair/typebox';
import { DATABASE_CONNECTION } from '../../authn/passwords/connection.js';
import { apiAudience, managementAudience } from '../../oauth/tokens/access-tokens.js';
import type { AppContext } from '../../platform/context.js';
import type { Role as RoleRow, Tenant, User } from '../../platform/db/schema.js';
import { Metadata } from '../../platform/http/schemas.js';

/** Auth0's shapes of Gatehouse's records (decisions 402–408), shared by the /api/v2 routes. */

/** The built-in username-and-password connection, by Auth0's default name (decision 387). */
export { DATABASE_CONNECTION };

export const Identity = Type.Object({
  connection: Type.String(),
  provider: Type.String(),
  user_id: Type.String(),
  isSocial: Type.Boolean(),
  profileData: Type.Optional(Type.Object({}, { additionalProperties: true })),
});

/** A user as Auth0 answers it (decision 402); absent values are left out, as Auth0 does. */
export const Auth0User = Type.Object(
  {
    user_id: Type.String({ description: 'Gatehouse’s id: the `sub` of the user’s tokens' }),
    email: Type.String(),
    email_verified: Type.Boolean(),
    username: Type.Optional(Type.String()),
    phone_number: Type.Optional(Type.String()),
    phone_verified: Type.Optional(Type.Boolean()),
    name: Type.Optional(Type.String()),
    given_name: Type.Optional(Type.String()),
    family_name: Type.Optional(Type.String()),
    nickname: Type.String(),
    picture: Type.Optional(Type.String()),
    locale: Type.Optional(Type.String()),
    blocked: Type.Boolean(),
    created_at: Type.String(),
    updated_at: Type.String(),
    last_login: Type.Optional(Type.String()),
    identities: Type.Array(Identity),
    user_metadata: Metadata,
    app_metadata: Metadata,
  },
  { title: 'Auth0User' },
);

const databaseIdentity = (user: User) => ({ connection: DATABASE_CONNECTION, provider: 'auth0', user_id: user.id, isSocial: false });

export function toAuth0User(
  user: User,
  federated: { connection: string; provider: string; user_id: string; profile_data: Record<string, unknown> }[] = [],
) {
  const some = <K extends string, V>(key: K, value: V | null | undefined) =>
    value === null || value === undefined ? {} : { [key]: value };
  return {
    user_id: user.id,
    email: user.email,
    email_verified: user.email_verified,
    ...some('username', user.username),
    ...some('phone_number', user.phone),
    ...(user.phone !== null && { phone_verified: user.phone_verified }),
    ...some('name', user.name),
    ...some('given_name', user.given_name),
    ...some('family_name', user.family_name),
    nickname: user.username ?? user.email.split('@')[0] ?? user.email,
    ...some('picture', user.picture),
    ...some('locale', user.locale),
    blocked: user.status === 'disabled',
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
    ...some('last_login', user.last_login_at?.toISOString()),
    identities: [
      databaseIdentity(user),
      ...federated.map((i) => ({
        connection: i.connection,
        provider: i.provider,
        user_id: i.user_id,
        isSocial: true,
        profileData: i.profile_data,
      })),
    ],
    user_metadata: user.user_metadata,
    app_metadata: user.app_metadata,
  };
}

/** A role: Gatehouse's role (a tenant's or a global one). */
export const Role = Type.Object({ id: Type.String(), name: Type.String(), description: Type.String() }, { title: 'Auth0Role' });
export const toRole = (role: RoleRow) => ({ id: role.id, name: role.name, description: role.description });

/** An organization: a Gatehouse tenant (decision 409); `name` is its slug, `display_name` its name. */
export const Organization = Type.Object(
  {
    id: Type.String(),
    name: Type.String({ description: 'The tenant’s slug' }),
    display_name: Type.String({ description: 'The tenant’s name' }),
    metadata: Type.Object({}, { additionalProperties: true }),
  },
  { title: 'Auth0Organization' },
);
export const toOrganization = (tenant: Tenant) => ({
  id: tenant.id,
  name: tenant.slug,
  display_name: tenant.name,
  metadata: { status: tenant.status },
});

/** A permission as Auth0 names one: its value and the API (resource server) it belongs to. */
export const PermissionRef = Type.Object(
  {
    resource_server_identifier: Type.String({ minLength: 1, maxLength: 600 }),
    permission_name: Type.String({ minLength: 1, maxLength: 280 }),
  },
  { additionalProperties: false },
);
export type PermissionRef = { resource_server_identifier: string; permission_name: string };
export const PermissionRefs = Type.Object(
  { permissions: Type.Array(PermissionRef, { minItems: 1, maxItems: 500 }) },
  { additionalProperties: false },
);

export const Permission = Type.Object(
  {
    permission_name: Type.String(),
    description: Type.String(),
    resource_server_identifier: Type.String(),
    resource_server_name: Type.String(),
  },
  { title: 'Auth0Permission' },
);

/** Gatehouse's own permissions (tenant.*, iam.*, custom ones) are named under the admin API's audience, `{issuer}/api/v2/` (decision 408). */
export const isGatehouseAudience = (ctx: AppContext, identifier: string) =>
  identifier === managementAudience(ctx) || identifier === apiAudience(ctx) || identifier === apiAudience(ctx).replace(/\/+$/, '');

export function toPermission(
  ctx: AppContext,
  p: { permission_name: string; resource_server_identifier?: string; resource_server_name?: string; description?: string },
) {
  const gatehouse = p.resource_server_identifier === undefined;
  return {
    permission_name: p.permission_name,
    description: p.description ?? '',
    resource_server_identifier: p.resource_server_identifier ?? managementAudience(ctx),
    resource_server_name: p.resource_server_name ?? (gatehouse ? 'Gatehouse Management API' : (p.resource_server_identifier as string)),
  };
}
