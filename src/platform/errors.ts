/**
 * The one error vocabulary of the REST API (docs/api.md#errors): every non-2xx JSON response is
 * `{ error, message, details? }` with a stable `error` code declared here.
 */
export const ERROR_STATUS = {
  // 400: the request itself is wrong
  malformed_json: 400,
  invalid_request: 400,
  unknown_field: 400,
  missing_field: 400,
  invalid_type: 400,
  invalid_field: 400,
  // a user's app_metadata or user_metadata over 16 KB of JSON (src/directory/users/metadata.ts)
  metadata_too_large: 400,
  // actions (src/ops/actions/)
  action_not_deployed: 409,
  // an action bound to the trigger refused the sign-in, sign-up or token (its reason is the message)
  access_denied: 403,
  name_taken: 409,
  invalid_email: 400,
  invalid_id: 400,
  invalid_cursor: 400,
  missing_organization: 400,
  password_too_short: 400,
  password_too_long: 400,
  password_too_common: 400,
  password_contains_user_info: 400,
  password_reused: 400,
  password_breached: 400,
  unknown_permission: 400,
  unknown_role: 400,
  unknown_group: 400,
  reserved_permission: 400,
  interaction_expired: 400,
  invalid_redirect_uri: 400,
  invalid_web_origin: 400,
  missing_redirect_uri: 400,
  grant_not_allowed: 400,
  public_client: 400,
  invalid_identifier: 400,
  reserved_identifier: 400,
  duplicate_permission: 400,
  not_hs256: 400,
  tenant_mismatch: 400,
  // token exchange settings of an application (src/oauth/applications/token-exchange.ts)
  unknown_api: 400,
  // modern OAuth settings of an application (src/oauth/applications/modern.ts)
  invalid_jwks: 400,
  auth_method_not_allowed: 400,
  fapi_requirement: 400,
  hs256_subject_api: 400,
  impersonation_platform_only: 400,
  // connections to other identity providers (src/ops/connections/)
  invalid_connection_name: 400,
  reserved_connection_name: 400,
  unknown_strategy: 400,
  missing_option: 400,
  invalid_option: 400,
  invalid_domain: 400,
  unknown_client: 400,
  last_sign_in_method: 400,
  // backup and restore (mostly met on the command line)
  weak_passphrase: 400,
  not_a_backup: 400,
  backup_unsupported: 400,
  backup_truncated: 400,
  backup_corrupt: 400,
  wrong_passphrase: 400,
  backup_schema_mismatch: 400,
  backup_rejected: 400,
  kdf_too_expensive: 400,
  invalid_webhook_url: 400,
  webhook_destination_not_allowed: 400,
  destination_not_allowed: 400,
  unknown_event: 400,
  invalid_cidr: 400,
  ip_block_self: 400,
  password_unchanged: 400,
  // user import and export (src/users/transfer/)
  invalid_encoding: 400,
  invalid_csv: 400,
  invalid_csv_header: 400,
  invalid_import_file: 400,
  passphrase_required: 400,
  // hosted account pages (src/account/)
  email_unchanged: 400,
  password_mismatch: 400,
  account_deletion_disabled: 403,
  last_system_administrator: 409,
  // `gatehouse users export`: the .partial file is there and not a stale one of ours
  export_file_exists: 409,
  // MFA (src/mfa/)
  factor_not_allowed: 400,
  invalid_phone_number: 400,
  invalid_webauthn_response: 400,
  invalid_code: 401,
  invalid_mfa_token: 401,
  mfa_token_expired: 401,
  mfa_required: 401,
  already_enrolled: 409,
  last_factor: 409,
  delivery_failed: 502,
  // self-service flows (src/flows/)
  flow_expired: 410,
  flow_not_found: 404,
  flow_state: 409,
  // Federation (src/flows/federation/): a connection the application may not use, a callback that is no sign-in of ours, a provider's refusal
  connection_unknown: 400,
  federation_state_invalid: 400,
  federation_failed: 400,
  // a link from the account page: the identity is another user's; the account session that started it is gone or another
  identity_taken: 409,
  link_session_changed: 403,
  email_required: 400,
  link_invalid: 400,
  link_expired: 410,
  // self-registration and email verification (src/registration/)
  signup_disabled: 403,
  email_not_verified: 403,
  already_verified: 409,
  // passwordless sign-in (src/passwordless/)
  passwordless_disabled: 403,
  link_wrong_browser: 403,
  // invitations and recovery (src/invitations/, src/recovery/)
  not_pending: 409,
  invitation_wrong_account: 403,
  invalid_invitation: 400,
  // 401 / 403: who you are and what you may do
  unauthorized: 401,
  csrf_failed: 403,
  mfa_step_required: 403,
  invalid_credentials: 401,
  invalid_token: 401,
  account_disabled: 403,
  forbidden: 403,
  not_a_member: 403,
  tenant_suspended: 403,
  not_home_tenant: 403,
  // account management across tenants (src/users/manage.ts, decisions 180–181)
  member_elsewhere: 403,
  verified_not_allowed: 403,
  restricted_permission: 403,
  restricted_role_name: 403,
  identifier_outside_namespace: 403,
  system_resource: 403,
  password_change_required: 403,
  ip_blocked: 403,
  // 404 / 409 / 413 / 415
  not_found: 404,
  // federation (src/authn/federation/): no connection of that name and strategy
  connection_not_found: 404,
  conflict: 409,
  email_taken: 409,
  username_taken: 409,
  slug_taken: 409,
  role_name_taken: 409,
  group_name_taken: 409,
  permission_taken: 409,
  already_member: 409,
  identifier_taken: 409,
  grant_exists: 409,
  database_not_empty: 409,
  master_key_mismatch: 409,
  delivery_pending: 409,
  ip_block_exists: 409,
  connection_exists: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  // 428: bot defence (src/authn/bot-defence/): solve the challenge in details.challenge, send it as `captcha`
  challenge_required: 428,
  challenge_failed: 428,
  // 429: brute-force protection (src/protection/)
  too_many_attempts: 429,
  // 429: SMS pumping defence (src/authn/bot-defence/sms-caps.ts): a tenant's or a country's hourly cap, a resend too soon
  sms_cap_reached: 429,
  resend_too_soon: 429,
  // 5xx
  internal_error: 500,
  server_busy: 503,
  // a dependency (the database, Redis, the broker) is unreachable or restarting: retry after Retry-After
  service_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export const notFound = (what: string) => new AppError('not_found', `${what} not found`);

/**
 * A dependency of the request (the database, Redis, the broker) failed: the client may
 * retry after `retryAfterSeconds` (sent as Retry-After). Never a 500: nothing is wrong
 * with the request or with Gatehouse's code.
 */
export const serviceUnavailable = (what: string, retryAfterSeconds = 1) =>
  new AppError('service_unavailable', `${what} is unavailable right now; try again shortly`, { retry_after: retryAfterSeconds });
