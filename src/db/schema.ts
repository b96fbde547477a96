import type { ColumnType, Generated, Selectable } from 'kysely';

/** Table types for Kysely; the migrations in ./migrations are the source of truth. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T = Record<string, unknown>> = ColumnType<T, string, string>;

export type TenantStatus = 'active' | 'suspended';
export type UserStatus = 'active' | 'disabled' | 'pending';

export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  is_system: Generated<boolean>;
  branding: Json;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface UsersTable {
  id: string;
  email: string;
  username: string | null;
  phone: string | null;
  email_verified: Generated<boolean>;
  given_name: string | null;
  family_name: string | null;
  name: string | null;
  picture: string | null;
  locale: string | null;
  status: UserStatus;
  home_tenant_id: string | null;
  password_hash: string | null;
  user_metadata: Json;
  app_metadata: Json;
  last_login_at: Date | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface MembershipsTable {
  tenant_id: string;
  user_id: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface RolesTable {
  id: string;
  tenant_id: string | null;
  name: string;
  description: string;
  permissions: ColumnType<string[], string[], string[]>;
  is_system: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface MembershipRolesTable {
  tenant_id: string;
  user_id: string;
  role_id: string;
}

export interface MembershipPermissionsTable {
  tenant_id: string;
  user_id: string;
  permission: string;
}

export interface PermissionsTable {
  id: string;
  key: string;
  description: string;
  tenant_id: string | null;
  api_id: string | null;
  is_system: Generated<boolean>;
  restricted: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  token_hash: Buffer;
  remember_me: boolean;
  created_at: CreatedAt;
  last_seen_at: Timestamp;
  idle_expires_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Date | null;
  ip: string | null;
  user_agent: string | null;
}

export type KeyStatus = 'next' | 'current' | 'retired';

export interface SigningKeysTable {
  kid: string;
  alg: string;
  status: KeyStatus;
  public_jwk: Json<Record<string, unknown>>;
  private_jwk_sealed: string;
  created_at: CreatedAt;
  retired_at: Date | null;
}

export interface AuditEventsTable {
  id: string;
  created_at: CreatedAt;
  tenant_id: string | null;
  action: string;
  outcome: 'success' | 'failure';
  actor_type: 'user' | 'client' | 'system' | 'anonymous';
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Json;
}

export interface EventOutboxTable {
  id: string;
  event: string;
  payload: Json;
  created_at: CreatedAt;
  published_at: Date | null;
}

export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  roles: RolesTable;
  membership_roles: MembershipRolesTable;
  membership_permissions: MembershipPermissionsTable;
  permissions: PermissionsTable;
  sessions: SessionsTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
  event_outbox: EventOutboxTable;
}

export type Tenant = Selectable<TenantsTable>;
export type User = Selectable<UsersTable>;
export type Role = Selectable<RolesTable>;
export type Permission = Selectable<PermissionsTable>;
export type Session = Selectable<SessionsTable>;
export type AuditEvent = Selectable<AuditEventsTable>;
