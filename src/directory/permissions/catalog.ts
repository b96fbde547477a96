import { looksAlike } from './confusables.js';

/**
 * System permissions govern Gatehouse itself (docs/architecture.md#domain-model), in two sets as in OIH:
 * restricted ones only system administrators hold or grant; common ones tenant roles
 * may carry. `all` implies every permission; `tenant.all` every common one.
 */
export const RESTRICTED_PERMISSIONS = {
  all: 'Every permission, in every tenant',
  'iam.tenant.create': 'Create tenants',
  'iam.tenant.read': 'Read every tenant',
  'iam.tenant.update': 'Update every tenant',
  'iam.tenant.delete': 'Delete tenants',
  'iam.account.create': 'Create users in any tenant',
  'iam.account.read': 'Read every user',
  'iam.account.update': 'Update every user',
  'iam.account.delete': 'Delete every user',
  'iam.account.export': 'Export every user with password hashes and MFA secrets (encrypted with a passphrase)',
  'iam.membership.read': 'Read the members of every tenant',
  'iam.membership.update': 'Manage the members of every tenant',
  'iam.role.read': 'Read every role',
  'iam.role.create': 'Create global roles',
  'iam.role.update': 'Update global roles',
  'iam.role.delete': 'Delete global roles',
  'iam.group.read': 'Read the groups of every tenant, their members and roles',
  'iam.group.write': 'Create, change and delete the groups of every tenant, their members and roles',
  'iam.permission.read': 'Read every permission',
  'iam.permission.create': 'Create global permissions',
  'iam.permission.update': 'Update global permissions',
  'iam.permission.delete': 'Delete global permissions',
  'iam.audit.read': 'Read the audit trail of every tenant',
  'iam.token.introspect': 'Introspect tokens',
  'iam.key.read': 'Read signing key metadata',
  'iam.key.rotate': 'Rotate signing keys',
  'iam.application.read': 'Read every application',
  'iam.application.write': 'Create, change and delete applications in any tenant',
  'iam.api.read': 'Read every API',
  'iam.api.write': 'Create, change and delete APIs in any tenant',
  'iam.email.read': 'Read the development outbox (messages kept without SMTP)',
  'iam.backup.create': 'Download an encrypted backup of the whole deployment (every secret and hash in it)',
  'iam.webhook.read': 'Read every webhook and its deliveries, system-wide ones included',
  'iam.webhook.write': 'Create, change and delete webhooks in any tenant, and system-wide ones',
  'iam.action.read': 'Read every action, its versions and executions, and every trigger’s bindings, system ones included',
  'iam.action.write': 'Create, change, deploy, test and delete actions in any tenant and system-wide; bind them to triggers',
  'iam.access_review.read': 'Read the access review of every tenant',
  'iam.ip_block.read': 'Read the blocked IP addresses and ranges',
  'iam.ip_block.write': 'Block and unblock IP addresses and ranges',
  'iam.connection.read': 'Read every connection to another identity provider, system ones included (never their secrets)',
  'iam.connection.write': 'Create, change and delete connections in any tenant, and system connections',
  'iam.user.impersonate': 'Impersonate a user the holder outranks, for support: time-boxed, audited and shown to the user',
} as const;

export const COMMON_PERMISSIONS = {
  'tenant.all': 'Every tenant permission, in the own tenant',
  'tenant.account.read': 'Read the tenant’s users',
  'tenant.account.create': 'Create users homed in the tenant',
  'tenant.account.update': 'Update users homed in the tenant',
  'tenant.account.delete': 'Delete users homed in the tenant',
  'tenant.membership.read': 'Read the tenant’s members',
  'tenant.membership.create': 'Add members to the tenant',
  'tenant.membership.update': 'Change members’ roles and grants',
  'tenant.membership.delete': 'Remove members from the tenant',
  'tenant.profile.read': 'Read the tenant’s profile',
  'tenant.profile.update': 'Update the tenant’s profile',
  'tenant.profile.delete': 'Delete the tenant’s profile',
  'tenant.roles.read': 'Read the tenant’s roles',
  'tenant.roles.create': 'Create tenant roles',
  'tenant.roles.update': 'Update tenant roles',
  'tenant.roles.delete': 'Delete tenant roles',
  'tenant.groups.read': 'Read the tenant’s groups, their members and roles',
  'tenant.groups.write': 'Create, change and delete the tenant’s groups, their members and roles',
  'tenant.permissions.read': 'Read the tenant’s permissions',
  'tenant.permissions.create': 'Create permissions visible in the tenant',
  'tenant.permissions.update': 'Update the tenant’s permissions',
  'tenant.permissions.delete': 'Delete the tenant’s permissions',
  'tenant.audit.read': 'Read the tenant’s audit trail',
  'tenant.applications.read': 'Read the tenant’s applications',
  'tenant.applications.write': 'Create, change and delete the tenant’s applications and their grants',
  'tenant.apis.read': 'Read the tenant’s APIs',
  'tenant.apis.write': 'Create, change and delete the tenant’s APIs',
  'tenant.webhook.read': 'Read the tenant’s webhooks and their deliveries',
  'tenant.webhook.write': 'Create, change and delete the tenant’s webhooks; rotate their secrets; redeliver',
  'tenant.action.read': 'Read the tenant’s actions, their versions and executions, and the tenant’s trigger bindings',
  'tenant.action.write': 'Create, change, deploy, test and delete the tenant’s actions; bind them to the tenant’s triggers',
  'tenant.connections.read': 'Read the tenant’s connections to other identity providers (never their secrets)',
  'tenant.connections.write': 'Create, change and delete the tenant’s connections to other identity providers',
  'tenant.access_review.read': 'Read the tenant’s access review (members, permissions, MFA, risk flags)',
} as const;

export type RestrictedPermission = keyof typeof RESTRICTED_PERMISSIONS;
export type CommonPermission = keyof typeof COMMON_PERMISSIONS;
export type SystemPermission = RestrictedPermission | CommonPermission;

export const SYSTEM_PERMISSIONS: Record<SystemPermission, string> = { ...RESTRICTED_PERMISSIONS, ...COMMON_PERMISSIONS };

/**
 * A key a custom permission may not take: the system namespaces, in any letter case
 * (a resource server comparing case-insensitively must not mistake one for a system key).
 */
export const isReservedKey = (key: string): boolean => {
  const lower = key.toLowerCase();
  return lower === 'all' || lower === 'iam' || lower === 'tenant' || lower.startsWith('iam.') || lower.startsWith('tenant.');
};

export const isRestricted = (key: string): boolean => key === 'all' || key.startsWith('iam.');

/** The global roles seeded on the first start; their names are reserved. */
export const SYSTEM_ROLES = {
  ADMIN: { description: 'System administrator', permissions: ['all'] },
  TENANT_ADMIN: { description: 'Administrator of a tenant', permissions: ['tenant.all'] },
  USER: { description: 'Member of a tenant', permissions: ['tenant.profile.read'] },
} as const satisfies Record<string, { description: string; permissions: SystemPermission[] }>;

/** A name a reader could take for a system role's: the same in any letter case, or a look-alike (decision 195). */
export const isSystemRoleName = (name: string): boolean => Object.keys(SYSTEM_ROLES).some((system) => looksAlike(name, system));
