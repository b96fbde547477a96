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
  policies: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface UsersTable {
  id: string;
  email: string;
  username: string | null;
  phone: string | null;
  /** The phone number is known to be the user's (set by an administrator or an import; a user's own change clears it). */
  phone_verified: Generated<boolean>;
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
  password_reset_required: Generated<boolean>;
  /** Signed up on their own (0012): the unverified-email sign-in rule applies. */
  self_registered: Generated<boolean>;
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

/** A tenant's group (0029): its members hold its roles in the tenant next to their own. */
export interface GroupsTable {
  id: string;
  tenant_id: string;
  name: string;
  description: Generated<string>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** A member of a group: a member of the group's tenant (the row goes with the membership). */
export interface GroupMembersTable {
  group_id: string;
  tenant_id: string;
  user_id: string;
  created_at: CreatedAt;
}

/** A role of a group: global or the group's tenant's own. */
export interface GroupRolesTable {
  group_id: string;
  tenant_id: string;
  role_id: string;
}

/** A group membership a connection's mapping made (0029): only these does the mapping ever remove. */
export interface GroupMappedMembersTable {
  group_id: string;
  tenant_id: string;
  user_id: string;
  connection_id: string;
}

/**
 * The view `effective_roles` (0029): every role a member holds in a tenant, directly
 * (`group_id` null) or through a group. A role may appear more than once. Read only.
 */
export interface EffectiveRolesView {
  tenant_id: string;
  user_id: string;
  role_id: string;
  group_id: string | null;
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
  /** RFC 8176 methods this session signed in with (`pwd`, then `otp`, `hwk`, `mfa`, …). */
  amr: ColumnType<string[], string[] | undefined, string[]>;
  /** The federation connection the user signed in through (migration 0035, `/v2/logout?federated`); null for Gatehouse's own methods. */
  connection_id: ColumnType<string | null, string | null | undefined, string | null>;
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
  /** Set when a key is retired at once (an incident): out of the JWKS from then on. */
  withdrawn_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
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
  /** Set by the sealer (audit/chain.ts): position in the tenant's chain, the previous hash, and this event's HMAC. */
  chain_seq: ColumnType<number | string | null, never, number | null>;
  chain_prev: ColumnType<Uint8Array | null, never, Buffer | null>;
  chain_hash: ColumnType<Uint8Array | null, never, Buffer | null>;
}

/** One per audit chain (a tenant, or `global` for events without one): its head, and the retention anchor. */
export interface AuditChainsTable {
  chain: string;
  tenant_id: string | null;
  /** int8: a string from pg, a number from PGlite; read it with Number(). */
  last_seq: ColumnType<number | string, number | undefined, number>;
  last_hash: ColumnType<Uint8Array | null, Buffer | null | undefined, Buffer | null>;
  pruned_seq: ColumnType<number | string, number | undefined, number>;
  pruned_hash: ColumnType<Uint8Array | null, Buffer | null | undefined, Buffer | null>;
  pruned_at: Date | null;
  head_mac: ColumnType<Uint8Array | null, Buffer | null | undefined, Buffer | null>;
  updated_at: Timestamp;
}

export interface EventOutboxTable {
  id: string;
  event: string;
  payload: Json;
  created_at: CreatedAt;
  published_at: Date | null;
}

export interface WebhooksTable {
  id: string;
  /** Null: a system-wide webhook (every tenant's events), created by a system administrator. */
  tenant_id: string | null;
  url: string;
  /** Event names or patterns (`iam.user.*`, `*`). */
  events: ColumnType<string[], string[], string[]>;
  description: Generated<string>;
  active: Generated<boolean>;
  /** The signing secret, sealed under the master key (crypto/secrets.ts). */
  secret_sealed: string;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export type DeliverySink = 'amqp' | 'webhook';
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface EventDeliveriesTable {
  id: string;
  seq: Generated<string>;
  sink: DeliverySink;
  webhook_id: string | null;
  /** Events of one lane (sink, webhook, tenant) are delivered in `seq` order. */
  lane: string;
  event_id: string;
  event: string;
  tenant_id: string | null;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  /** Set while a worker delivers it; another worker takes it over after this time. */
  locked_until: Timestamp | null;
  last_status: number | null;
  last_error: string | null;
  redelivery_of: string | null;
  created_at: Timestamp;
  delivered_at: Timestamp | null;
}

export type ApplicationType = 'web' | 'spa' | 'native' | 'm2m';
export type SigningAlg = 'RS256' | 'ES256' | 'HS256';
type TextArray = ColumnType<string[], string[] | undefined, string[]>;

export interface ApplicationsTable {
  id: string;
  client_id: string;
  tenant_id: string;
  name: string;
  type: ApplicationType;
  first_party: Generated<boolean>;
  /** HMAC of the client secret (crypto/secrets.ts clientSecretDigest); null for public clients. */
  client_secret_digest: string | null;
  redirect_uris: TextArray;
  post_logout_redirect_uris: TextArray;
  grant_types: ColumnType<string[], string[], string[]>;
  organization_required: Generated<boolean>;
  /** off, optional or required; null: the tenant's policy. */
  mfa_policy: ColumnType<MfaPolicy | null, MfaPolicy | null | undefined, MfaPolicy | null>;
  backchannel_logout_uri: ColumnType<string | null, string | null | undefined, string | null>;
  /** Self-registration through this application (also needs the tenant's `signup.enabled`). */
  signup_enabled: Generated<boolean>;
  /** Origins that may receive an authorization response by `response_mode=web_message` (migration 0031), exact. */
  web_origins: ColumnType<string[], string[] | undefined, string[]>;
  /** How the application authenticates at the token endpoint; null: by its type (migration 0033). */
  token_endpoint_auth_method: ColumnType<
    TokenEndpointAuthMethod | null,
    TokenEndpointAuthMethod | null | undefined,
    TokenEndpointAuthMethod | null
  >;
  /** Its public keys (a JWK Set), for private_key_jwt and signed request objects; or `jwks_uri`. */
  jwks: ColumnType<{ keys: Record<string, unknown>[] } | null, string | null | undefined, string | null>;
  jwks_uri: ColumnType<string | null, string | null | undefined, string | null>;
  require_pushed_authorization_requests: Generated<boolean>;
  dpop_bound_access_tokens: Generated<boolean>;
  require_signed_request_object: Generated<boolean>;
  fapi_profile: ColumnType<'2.0' | null, '2.0' | null | undefined, '2.0' | null>;
  frontchannel_logout_uri: ColumnType<string | null, string | null | undefined, string | null>;
  /** Dynamic client registration (RFC 7592): the digest of the registration access token. */
  registration_access_token_digest: ColumnType<string | null, string | null | undefined, string | null>;
  /** The initial access token it was registered with; null: made by an administrator. */
  registered_with: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** JWT access tokens revoked at /oauth/revoke, until they would have expired (migration 0031). */
export interface RevokedAccessTokensTable {
  jti: string;
  client_id: string;
  expires_at: Date;
  revoked_at: CreatedAt;
}
export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';

/** RFC 7591 initial access tokens a tenant administrator issued (migration 0033); only their digest is kept. */
export interface InitialAccessTokensTable {
  id: string;
  tenant_id: string;
  token_digest: string;
  description: Generated<string>;
  /** How many applications it may register; null: no limit. */
  max_registrations: ColumnType<number | null, number | null | undefined, number | null>;
  registrations: Generated<number>;
  expires_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_by: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
}
export type InitialAccessToken = Selectable<InitialAccessTokensTable>;

export interface ApisTable {
  id: string;
  tenant_id: string;
  identifier: string;
  name: string;
  token_lifetime: number;
  signing_alg: SigningAlg;
  /** The HS256 shared secret, sealed under the master key; null for RS256/ES256. */
  signing_secret_sealed: string | null;
  rbac: Generated<boolean>;
  permissions_in_token: Generated<boolean>;
  /** Whether a user's access token for this API carries `groups` (0029). */
  token_groups_claim: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ApiPermissionsTable {
  api_id: string;
  value: string;
  description: Generated<string>;
}

export interface RoleApiPermissionsTable {
  role_id: string;
  api_id: string;
  value: string;
}

export interface ApplicationGrantsTable {
  application_id: string;
  api_id: string;
  created_at: CreatedAt;
}

/** A machine application's grant of Gatehouse's own admin API (migration 0032, decision 400). */
export interface ApplicationAdminGrantsTable {
  application_id: string;
  /** Gatehouse permission keys; they count only as far as the application's tenant lets them (restricted ones in the system tenant alone). */
  permissions: TextArray;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface ApplicationGrantPermissionsTable {
  application_id: string;
  api_id: string;
  value: string;
}

export interface OidcModelsTable {
  model: string;
  id: string;
  payload: Json;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_at: Date | null;
  consumed_at: Date | null;
}

export interface OauthGrantOrganizationsTable {
  grant_id: string;
  tenant_id: string;
  expires_at: Timestamp;
}

export type EmailStatus = 'pending' | 'sent' | 'kept' | 'failed';

export interface EmailsTable {
  id: string;
  tenant_id: string | null;
  recipient: string;
  subject: string;
  body_sealed: string;
  status: EmailStatus;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  /** Set while a node sends it; another node takes it over after this time (src/platform/queue/queue.ts). */
  locked_until: Timestamp | null;
  last_error: string | null;
  created_at: CreatedAt;
  sent_at: Timestamp | null;
}

export type FlowKind = 'registration' | 'verification' | 'recovery' | 'invitation' | 'passwordless' | 'email_change' | 'federation';
export type FlowChannel = 'browser' | 'api';

/** A self-service flow (src/flows/flows.ts): one stored record per registration, recovery, invitation… */
export interface FlowsTable {
  id: string;
  kind: FlowKind;
  /** Where the flow stands; each kind names its own states (e.g. `choose_method`, `sent`, `done`). */
  state: string;
  channel: FlowChannel;
  tenant_id: string | null;
  application_id: string | null;
  user_id: string | null;
  email: string | null;
  /** SHA-256 of the browser binding cookie (browser flows only). */
  browser_hash: string | null;
  /** SHA-256 of the emailed link's token; null once spent. */
  link_hash: string | null;
  /** HMAC of the one-time code, bound to the flow id; null once spent. */
  code_hash: string | null;
  code_attempts: Generated<number>;
  data: Json;
  return_to: string | null;
  locale: string | null;
  expires_at: Timestamp;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

export interface IpBlocksTable {
  id: string;
  cidr: string;
  reason: string;
  expires_at: Date | null;
  created_by: string | null;
  created_at: CreatedAt;
}

export type BackchannelLogoutStatus = 'pending' | 'sent' | 'failed';

export interface BackchannelLogoutsTable {
  id: string;
  application_id: string;
  user_id: string;
  sid: string | null;
  status: BackchannelLogoutStatus;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  /** Set while a node sends it; another node takes it over after this time (src/platform/queue/queue.ts). */
  locked_until: Timestamp | null;
  last_error: string | null;
  created_at: CreatedAt;
  sent_at: Timestamp | null;
}

export type MfaFactorType = 'otp' | 'email' | 'sms' | 'webauthn';

export interface MfaFactorsTable {
  id: string;
  user_id: string;
  type: MfaFactorType;
  name: string | null;
  /** TOTP seed, sealed with the context `mfa-factor-secret:<id>`. */
  secret_sealed: string | null;
  /** Email address or phone number, sealed with the context `mfa-factor-destination:<id>`. */
  destination_sealed: string | null;
  /** WebAuthn: the credential id (base64url) and its public key (COSE, base64url): public values. */
  credential_id: string | null;
  public_key: string | null;
  sign_count: ColumnType<number, number | undefined, number>;
  transports: ColumnType<string[], string[] | undefined, string[]>;
  /** WebAuthn: the RFC 8176 method it proves (`hwk` or `swk`). */
  amr: string | null;
  confirmed: Generated<boolean>;
  /** TOTP: the last time step accepted, so a code is not accepted twice. */
  last_totp_step: ColumnType<number | null, number | null | undefined, number | null>;
  last_used_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface MfaRecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: Buffer;
  created_at: CreatedAt;
  used_at: Timestamp | null;
}

export interface MfaOobChallengesTable {
  id: string;
  user_id: string;
  factor_id: string;
  oob_code_hash: Buffer;
  binding_code_hash: Buffer;
  attempts: Generated<number>;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface MfaTokensTable {
  token_hash: Buffer;
  user_id: string;
  client_id: string | null;
  tenant_id: string | null;
  request: Json;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface WebauthnChallengesTable {
  id: string;
  user_id: string;
  purpose: 'registration' | 'authentication';
  challenge: string;
  expires_at: Timestamp;
  used_at: Timestamp | null;
  created_at: CreatedAt;
}

export interface SmsOutboxTable {
  id: string;
  recipient_sealed: string;
  body_sealed: string;
  created_at: CreatedAt;
}

/** A CAPTCHA solution spent (migration 0030): a digest, kept until its challenge would have expired. */
export interface ChallengeSolutionsTable {
  digest: string;
  expires_at: Timestamp;
}

/** A fixed-window counter shared by every node (migration 0030): sign-up bursts, SMS caps, resends. */
export interface BotCountersTable {
  key: string;
  window_started_at: Timestamp;
  count: number;
  last_at: Timestamp;
  expires_at: Timestamp;
}

export type MfaPolicy = 'off' | 'optional' | 'required';

/** The MFA step of one hosted sign-in, bound to its interaction uid (decision 110). */
export interface MfaInteractionsTable {
  uid: string;
  user_id: string;
  session_id: string | null;
  need: 'challenge' | 'enrol';
  amr: ColumnType<string[], string[] | undefined, string[]>;
  done: Generated<boolean>;
  /** A TOTP factor being enrolled in this step (its secret sealed), so a reload or a wrong code shows the same one. */
  pending_sealed: string | null;
  /** The connection the first step signed in through (migration 0035), for the session it opens. */
  connection_id: ColumnType<string | null, string | null | undefined, string | null>;
  expires_at: Timestamp;
}

export interface AttemptAccountsTable {
  subject: string;
  kind: string;
  user_id: string | null;
  failures: number;
  locked_until: Date | null;
  hard_locked: Generated<boolean>;
  /** The last admitted attempt fell in the home tenant's stricter backoff: it was refused like a wrong password. */
  quiet: Generated<boolean>;
  updated_at: Timestamp;
}

export interface AttemptPairsTable {
  subject: string;
  kind: string;
  ip: string;
  user_id: string | null;
  failures: number;
  blocked_until: Date | null;
  updated_at: Timestamp;
}

export interface AttemptIpsTable {
  ip: string;
  failures: number;
  window_started_at: Timestamp;
  blocked_until: Date | null;
}

export interface UnblockTokensTable {
  token_hash: Buffer;
  user_id: string;
  kind: string;
  ip: string;
  expires_at: Timestamp;
  used_at: Date | null;
  created_at: Timestamp;
}

export interface PasswordHistoryTable {
  id: string;
  user_id: string;
  password_hash: string;
  created_at: Timestamp;
}

export type SyncMode = 'on_each_login' | 'on_first_login';
/** One rule of a connection's role mapping: when the claim equals `value` (or, an array, holds it), the user gets `roles` and joins `groups`. */
export interface RoleMapping {
  claim: string;
  value: string;
  roles: string[];
  /** Names of groups of the tenant the user joins (0029); absent in mappings stored before. */
  groups?: string[];
}

/** A connection to another identity provider (src/authn/federation/): Auth0's model. */
export interface ConnectionsTable {
  /** `con_` and 32 hex digits. */
  id: string;
  /** Null: a system connection, which may serve every tenant's applications. */
  tenant_id: string | null;
  /** Unique across the deployment (case-insensitive): `/authorize?connection=NAME`. */
  name: string;
  strategy: string;
  display_name: string;
  /** The strategy's options without its secrets. */
  options: Json;
  /** The secret options (client_secret, keys, bind password) as one sealed JSON object. */
  secrets_sealed: string | null;
  /** The client ids of the applications it is enabled for. */
  enabled_clients: Json<string[]>;
  /** Email domains sent to this connection (home-realm discovery). */
  domains: Json<string[]>;
  mapping: Json<RoleMapping[]>;
  /** The user's fields taken from the provider's claims: `{ given_name: "givenName" }`. */
  attributes: Json<Record<string, string>>;
  sync_mode: Generated<SyncMode>;
  /** The provider's verified email may link to an existing account without proof (issue 14). */
  trusted_email: Generated<boolean>;
  /** The provider's MFA (amr `mfa`, SAML AuthnContextClassRef) counts for the MFA policy. */
  upstream_mfa: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** A user's identity at a connection: `subject` is the provider's id of the person. */
export interface UserIdentitiesTable {
  connection_id: string;
  subject: string;
  user_id: string;
  provider: string;
  profile_data: Json;
  created_at: CreatedAt;
  last_login_at: Date | null;
  /** The account's owner proved it (password, second factor), 0025: it reaches the account whatever tenants the account joins. */
  proved: Generated<boolean>;
}

/** A role of a membership that a connection's role mapping granted (0024): only these does the mapping ever remove. */
export interface MembershipMappedRolesTable {
  tenant_id: string;
  user_id: string;
  role_id: string;
  connection_id: string;
}

/** SAML assertion ids already accepted (replay cache), kept until the assertion expires. */
export interface SamlAssertionsTable {
  connection_id: string;
  assertion_id: string;
  expires_at: Timestamp;
}

/** Token exchange (migration 0034): what an application serves, may exchange to, and may impersonate for. */
export type ExchangeUse = 'subject' | 'target' | 'impersonation';

export interface ApplicationExchangeApisTable {
  application_id: string;
  api_id: string;
  use: ExchangeUse;
}

/** An administrator's impersonation of a user (decision 433): every token under it ends by `expires_at`. */
export interface ImpersonationsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  /** Null once the administrator's account is deleted; the email and name stay, for the user and the audit. */
  actor_user_id: string | null;
  actor_email: string;
  actor_name: string | null;
  client_id: string;
  started_at: Timestamp;
  expires_at: Timestamp;
  tokens: Generated<number>;
}

export type ActionRuntime = 'js' | 'http';
export type OnError = 'deny' | 'continue';

/** An action (0028): code or an HTTP endpoint run at a trigger; tenant_id null: a system action, run for every tenant. */
export interface ActionsTable {
  id: string;
  tenant_id: string | null;
  name: string;
  trigger: string;
  runtime: ActionRuntime;
  /** The draft: what the next deploy copies into a version. */
  code: string | null;
  url: string | null;
  timeout_ms: Generated<number>;
  /** `{name: value}` as JSON, sealed under the master key bound to the action's id; null: none. */
  secrets_sealed: string | null;
  secret_names: Json<string[]>;
  deployed_version: number | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** A deployed version of an action: immutable. */
export interface ActionVersionsTable {
  action_id: string;
  version: number;
  code: string | null;
  url: string | null;
  timeout_ms: number;
  created_by: string | null;
  created_at: CreatedAt;
}

/** The ordered actions of a trigger for a tenant (tenant_id null: the system's list). */
export interface TriggerBindingsTable {
  id: string;
  tenant_id: string | null;
  trigger: string;
  position: number;
  action_id: string;
  on_error: Generated<OnError>;
}

/** A run of an action: its outcome, duration and console output. */
export interface ActionExecutionsTable {
  id: string;
  action_id: string;
  tenant_id: string | null;
  trigger: string;
  version: number | null;
  outcome: string;
  duration_ms: number;
  error: string | null;
  logs: Json<string[]>;
  dry_run: Generated<boolean>;
  created_at: CreatedAt;
}

export type Action = Selectable<ActionsTable>;
export type ActionVersion = Selectable<ActionVersionsTable>;
export type TriggerBinding = Selectable<TriggerBindingsTable>;
export type ActionExecution = Selectable<ActionExecutionsTable>;

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
  audit_chains: AuditChainsTable;
  applications: ApplicationsTable;
  revoked_access_tokens: RevokedAccessTokensTable;
  initial_access_tokens: InitialAccessTokensTable;
  apis: ApisTable;
  api_permissions: ApiPermissionsTable;
  role_api_permissions: RoleApiPermissionsTable;
  application_grants: ApplicationGrantsTable;
  application_grant_permissions: ApplicationGrantPermissionsTable;
  application_admin_grants: ApplicationAdminGrantsTable;
  oidc_models: OidcModelsTable;
  oauth_grant_organizations: OauthGrantOrganizationsTable;
  emails: EmailsTable;
  flows: FlowsTable;
  webhooks: WebhooksTable;
  event_deliveries: EventDeliveriesTable;
  ip_blocks: IpBlocksTable;
  backchannel_logouts: BackchannelLogoutsTable;
  mfa_factors: MfaFactorsTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
  mfa_oob_challenges: MfaOobChallengesTable;
  mfa_tokens: MfaTokensTable;
  webauthn_challenges: WebauthnChallengesTable;
  sms_outbox: SmsOutboxTable;
  challenge_solutions: ChallengeSolutionsTable;
  bot_counters: BotCountersTable;
  mfa_interactions: MfaInteractionsTable;
  attempt_accounts: AttemptAccountsTable;
  attempt_pairs: AttemptPairsTable;
  attempt_ips: AttemptIpsTable;
  unblock_tokens: UnblockTokensTable;
  password_history: PasswordHistoryTable;
  connections: ConnectionsTable;
  user_identities: UserIdentitiesTable;
  saml_assertions: SamlAssertionsTable;
  membership_mapped_roles: MembershipMappedRolesTable;
  application_exchange_apis: ApplicationExchangeApisTable;
  impersonations: ImpersonationsTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  group_roles: GroupRolesTable;
  group_mapped_members: GroupMappedMembersTable;
  /** A view: read only. */
  effective_roles: EffectiveRolesView;
  actions: ActionsTable;
  action_versions: ActionVersionsTable;
  trigger_bindings: TriggerBindingsTable;
  action_executions: ActionExecutionsTable;
}

export type Tenant = Selectable<TenantsTable>;
export type User = Selectable<UsersTable>;
export type Role = Selectable<RolesTable>;
export type Group = Selectable<GroupsTable>;
export type Permission = Selectable<PermissionsTable>;
export type Session = Selectable<SessionsTable>;
export type AuditEvent = Selectable<AuditEventsTable>;
export type Application = Selectable<ApplicationsTable>;
export type Api = Selectable<ApisTable>;
export type Webhook = Selectable<WebhooksTable>;
export type EventDelivery = Selectable<EventDeliveriesTable>;
export type IpBlock = Selectable<IpBlocksTable>;
export type MfaFactor = Selectable<MfaFactorsTable>;
export type ConnectionRow = Selectable<ConnectionsTable>;
export type UserIdentity = Selectable<UserIdentitiesTable>;
export type Impersonation = Selectable<ImpersonationsTable>;
