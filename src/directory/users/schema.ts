import { Type } from '@sinclair/typebox';
import type { User as UserRow } from '../../platform/db/schema.js';
import { Id, Metadata, Nullable, PageQuery, Timestamp } from '../../platform/http/schemas.js';

const Email = Type.String({ format: 'email', maxLength: 320 });
const Status = Type.Union([Type.Literal('active'), Type.Literal('disabled'), Type.Literal('pending')]);
const Password = Type.String({ minLength: 1, maxLength: 1024, description: 'At least 10 and at most 128 characters' });

/** A sign-in identifier: set by administrators, not by users themselves (no probing of others' names). */
const Username = Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 128, pattern: '^[^@\\s]+$' })));

const profile = {
  phone: Type.Optional(Nullable(Type.String({ minLength: 3, maxLength: 32, pattern: '^\\+?[0-9 ()-]+$' }))),
  given_name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  family_name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  name: Type.Optional(Nullable(Type.String({ maxLength: 400 }))),
  picture: Type.Optional(Nullable(Type.String({ format: 'uri', maxLength: 2048, pattern: '^https://' }))),
  locale: Type.Optional(Nullable(Type.String({ maxLength: 35 }))),
  user_metadata: Type.Optional(Metadata),
};

/** What a user may change about themselves. */
export const ProfilePatch = Type.Object(profile, { additionalProperties: false });

export const UserCreate = Type.Object(
  {
    email: Email,
    password: Type.Optional(Password),
    email_verified: Type.Optional(Type.Boolean({ description: 'true: system administrators only (403 verified_not_allowed)' })),
    phone_verified: Type.Optional(
      Type.Boolean({ description: 'The phone number is known to be the user’s (default false); true: system administrators only' }),
    ),
    status: Type.Optional(Status),
    app_metadata: Type.Optional(Metadata),
    roles: Type.Optional(Type.Array(Id, { maxItems: 100, description: 'Role ids for the membership in the home tenant (default USER)' })),
    tenant: Type.Optional(Type.String({ format: 'uuid', description: 'Home tenant (system administrators only)' })),
    username: Username,
    invite: Type.Optional(
      Type.Boolean({ description: 'Without a password: the user stays pending and is emailed an invitation link to set one (7 days)' }),
    ),
    temporary: Type.Optional(Type.Boolean({ description: 'With a password: it must be changed at the first sign-in' })),
    ...profile,
  },
  { additionalProperties: false },
);

export const UserPatch = Type.Object(
  {
    email: Type.Optional(Email),
    password: Type.Optional(Password),
    email_verified: Type.Optional(Type.Boolean({ description: 'true: system administrators only (403 verified_not_allowed)' })),
    phone_verified: Type.Optional(
      Type.Boolean({ description: 'A new phone number is unverified unless this says otherwise; true: system administrators only' }),
    ),
    status: Type.Optional(Status),
    app_metadata: Type.Optional(Metadata),
    username: Username,
    ...profile,
  },
  { additionalProperties: false },
);

export const UserQuery = Type.Object(
  {
    email: Type.Optional(Type.String({ maxLength: 320 })),
    tenant: Type.Optional(Id),
    status: Type.Optional(Status),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    email_prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 320 })),
    ...PageQuery,
  },
  { additionalProperties: false },
);

/** A user as the API shows it: every field but the credentials. */
export const User = Type.Object(
  {
    id: Type.String(),
    email: Type.String(),
    email_verified: Type.Boolean(),
    username: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    phone_verified: Type.Boolean(),
    given_name: Nullable(Type.String()),
    family_name: Nullable(Type.String()),
    name: Nullable(Type.String()),
    picture: Nullable(Type.String()),
    locale: Nullable(Type.String()),
    status: Status,
    home_tenant_id: Nullable(Type.String()),
    user_metadata: Metadata,
    app_metadata: Metadata,
    last_login_at: Nullable(Timestamp),
    created_at: Timestamp,
    updated_at: Timestamp,
    managed: Type.Optional(
      Type.Boolean({
        description:
          'Reads of the admin API: whether the caller may change this account’s credentials, status, email, factors or existence (false for an account that is also a member of an organization the caller does not administer)',
      }),
    ),
  },
  { title: 'User' },
);

export function toUser(user: UserRow & { managed?: boolean }) {
  return {
    ...(user.managed !== undefined && { managed: user.managed }),
    id: user.id,
    email: user.email,
    email_verified: user.email_verified,
    username: user.username,
    phone: user.phone,
    phone_verified: user.phone_verified,
    given_name: user.given_name,
    family_name: user.family_name,
    name: user.name,
    picture: user.picture,
    locale: user.locale,
    status: user.status,
    home_tenant_id: user.home_tenant_id,
    user_metadata: user.user_metadata,
    app_metadata: user.app_metadata,
    last_login_at: user.last_login_at?.toISOString() ?? null,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
  };
}
