import { Type } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../platform/http/schemas.js';
import type { ReviewedMember, TenantReview } from './review.js';

export const MEMBER_FLAGS = ['admin_without_mfa', 'inactive', 'direct_grants', 'restricted_permissions', 'invitation_pending'] as const;

export const ReviewQuery = {
  inactive_days: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 3650, default: 90, description: 'Members not signed in for longer are flagged inactive' }),
  ),
  format: Type.Optional(
    Type.Union([Type.Literal('json'), Type.Literal('csv')], { description: 'csv, or send Accept: text/csv (default json)' }),
  ),
};

const ReviewedMemberSchema = Type.Object({
  user_id: Type.String(),
  email: Type.String(),
  name: Nullable(Type.String()),
  status: Type.String(),
  home_tenant: Type.Boolean({ description: 'Whether this tenant is the user’s home tenant' }),
  roles: Type.Array(Type.String(), { description: 'The roles held, directly or through a group' }),
  groups: Type.Array(Type.String(), { description: 'The tenant’s groups the member belongs to' }),
  permissions: Type.Array(
    Type.Object({
      permission: Type.String(),
      from: Type.Array(Type.String(), {
        description:
          '"role:<name>" for each directly assigned role that gives it, "group:<name>" for each group whose roles give it, "direct" for a direct grant',
      }),
    }),
  ),
  administrator: Type.Boolean(),
  mfa: Type.Object({ enrolled: Type.Boolean(), factors: Type.Array(Type.String()) }),
  last_login_at: Nullable(Timestamp),
  created_at: Timestamp,
  flags: Type.Array(Type.Union(MEMBER_FLAGS.map((f) => Type.Literal(f)))),
});

export const TenantReviewSchema = Type.Object(
  {
    tenant: Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String(), status: Type.String() }),
    members: Type.Array(ReviewedMemberSchema),
    machine_applications: Type.Array(
      Type.Object({
        application_id: Type.String(),
        client_id: Type.String(),
        name: Type.String(),
        grants: Type.Array(Type.Object({ api_id: Type.String(), api_identifier: Type.String(), permissions: Type.Array(Type.String()) })),
      }),
    ),
    summary: Type.Object(
      Object.fromEntries(['members', 'administrators', 'machine_applications', ...MEMBER_FLAGS].map((k) => [k, Type.Integer()])) as Record<
        string,
        ReturnType<typeof Type.Integer>
      >,
    ),
    generated_at: Timestamp,
    inactive_days: Type.Integer(),
  },
  { title: 'AccessReview' },
);

const toMember = (m: ReviewedMember) => ({
  ...m,
  last_login_at: m.last_login_at?.toISOString() ?? null,
  created_at: m.created_at.toISOString(),
});

export const toReview = (review: TenantReview, at: Date, inactiveDays: number) => ({
  ...review,
  members: review.members.map(toMember),
  generated_at: at.toISOString(),
  inactive_days: inactiveDays,
});
