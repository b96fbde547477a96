/**
 * The one catalog of event names (DESIGN §5): OIH's names where OIH had one, extended.
 * The same record goes to the audit table and, through the outbox, to every sink.
 */
export const AUDIT_ACTIONS = [
  'iam.tenant.created',
  'iam.tenant.modified',
  'iam.tenant.deleted',
  'iam.user.created',
  'iam.user.modified',
  'iam.user.deleted',
  'iam.user.loginSucceeded',
  'iam.user.loginFailed',
  'iam.user.logout',
  'iam.membership.created',
  'iam.membership.modified',
  'iam.membership.deleted',
  'iam.role.created',
  'iam.role.modified',
  'iam.role.deleted',
  'iam.permission.created',
  'iam.permission.modified',
  'iam.permission.deleted',
  'iam.token.created',
  'iam.key.created',
  'iam.key.rotated',
  'iam.application.created',
  'iam.application.modified',
  'iam.application.deleted',
  'iam.application.secretRotated',
  'iam.application.grantCreated',
  'iam.application.grantModified',
  'iam.application.grantDeleted',
  'iam.api.created',
  'iam.api.modified',
  'iam.api.deleted',
  'iam.oauth.consentGranted',
  'iam.oauth.refreshTokenReused',
  'iam.audit.exported',
  'iam.audit.pruned',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];
