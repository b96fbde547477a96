import type { AppContext } from '../../platform/context.js';
import type { RoleMapping, SyncMode } from '../../platform/db/schema.js';

/**
 * Federation (docs/federation.md): signing a person in at another identity provider
 * through a *connection*. Each strategy turns what the provider says into one
 * `UpstreamProfile`; everything after that (the identity, linking, just-in-time
 * provisioning, role mapping, the MFA policy) is the same for every strategy
 * (src/flows/federation/).
 */
export const REDIRECT_STRATEGIES = [
  'oidc',
  'oauth2',
  'google-oauth2',
  'windowslive',
  'waad',
  'github',
  'apple',
  'facebook',
  'samlp',
] as const;
export const STRATEGIES = [...REDIRECT_STRATEGIES, 'ad'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** A connection as a strategy uses it: its options and its secrets, unsealed (never logged, never answered). */
export interface Connection {
  id: string;
  /** Null: a system connection. */
  tenantId: string | null;
  name: string;
  strategy: Strategy;
  displayName: string;
  options: Record<string, unknown>;
  secrets: Record<string, string>;
  enabledClients: string[];
  domains: string[];
  mapping: RoleMapping[];
  attributes: Record<string, string>;
  syncMode: SyncMode;
  trustedEmail: boolean;
  upstreamMfa: boolean;
}

/** What a provider said about the person, the same shape for every strategy. */
export interface UpstreamProfile {
  /**
   * The provider's stable, unique id of the person: OIDC `sub`; Entra ID `tid:oid` (never the
   * mutable email or preferred_username); SAML NameID (persistent) or the configured
   * attribute; LDAP the entry's DN or objectGUID/entryUUID.
   */
  subject: string;
  /** Auth0's `provider` of the identity: the strategy name (`google-oauth2`, `samlp`, `ad`…). */
  provider: string;
  email?: string;
  /** The provider asserts that it verified the email (OIDC `email_verified: true`; never guessed). */
  emailVerified: boolean;
  name?: string;
  givenName?: string;
  familyName?: string;
  picture?: string;
  locale?: string;
  /**
   * Every claim or attribute as received (ID token and userinfo claims, SAML attributes,
   * LDAP attributes with `memberOf`): the role mapping and `profile_data` read it. Never
   * tokens or secrets.
   */
  claims: Record<string, unknown>;
  /** The provider performed multi-factor authentication (OIDC `amr` holds `mfa`, or a SAML AuthnContextClassRef that says so). */
  mfa: boolean;
}

/**
 * A strategy whose sign-in happens at the provider: Gatehouse sends the browser there and
 * the provider sends it back to `/login/callback`. `state` is opaque to the strategy: it
 * goes to the provider and comes back (OAuth `state`, SAML `RelayState`).
 */
export interface RedirectStrategy {
  kind: 'redirect';
  /** Where to send the browser; `saved` (PKCE verifier, nonce, SAML request id…) comes back to `finish`. */
  start(
    ctx: AppContext,
    connection: Connection,
    input: { redirectUri: string; state: string; loginHint?: string },
  ): Promise<{
    url: string;
    saved: Record<string, string>;
  }>;
  /**
   * The callback's parameters (query or form body, as received) checked and turned into
   * the person. Throws `FederationError` for anything the provider or the browser got wrong.
   */
  finish(
    ctx: AppContext,
    connection: Connection,
    input: { redirectUri: string; params: Record<string, string>; saved: Record<string, string> },
  ): Promise<UpstreamProfile>;
  /**
   * Where to send the browser to end the person's session at the provider (`/v2/logout?federated`),
   * coming back to `postLogoutRedirectUri` with `state`; undefined when the provider has no
   * such endpoint. Absent: the strategy cannot (OAuth 2, SAML for now).
   */
  logoutUrl?(ctx: AppContext, connection: Connection, input: { postLogoutRedirectUri: string; state: string }): Promise<string | undefined>;
}

/** A strategy that checks a username and password itself (LDAP / Active Directory: a bind as the user). */
export interface PasswordStrategy {
  kind: 'password';
  /** `actor.ip`: the client's address, for the brute-force guard's per-address counters (none: not counted by address). */
  authenticate(
    ctx: AppContext,
    connection: Connection,
    input: { username: string; password: string; actor?: { ip: string | null } },
  ): Promise<UpstreamProfile>;
}

/**
 * Why a federated sign-in failed, in words for the person and a code for the application
 * (`access_denied` when the person cancelled at the provider, else `server_error` /
 * `temporarily_unavailable`). `reason` is logged and audited; it never holds a secret.
 */
export class FederationError extends Error {
  constructor(
    readonly code: 'cancelled' | 'provider_error' | 'invalid_response' | 'unreachable' | 'wrong_credentials' | 'misconfigured',
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'FederationError';
  }
}

/**
 * The options each strategy takes (Auth0's names), for the admin API's checks: which are
 * required, and which are secrets (sealed at rest, write-only: never answered, never
 * logged). Anything else in `options` is kept as given.
 */
export interface OptionsSpec {
  /** Each entry is one required option, or alternatives of which one must be set (`issuer|discovery_url`). */
  required: readonly string[];
  secrets: readonly string[];
}

const OAUTH_CLIENT: OptionsSpec = { required: ['client_id', 'client_secret'], secrets: ['client_secret'] };

export const STRATEGY_OPTIONS: Record<Strategy, OptionsSpec> = {
  oidc: { required: ['issuer|discovery_url', 'client_id'], secrets: ['client_secret'] },
  oauth2: { required: ['authorizationURL', 'tokenURL', 'userinfoURL', 'client_id', 'client_secret'], secrets: ['client_secret'] },
  'google-oauth2': OAUTH_CLIENT,
  windowslive: OAUTH_CLIENT,
  waad: { required: ['client_id', 'client_secret', 'tenant_domain|tenant_id'], secrets: ['client_secret'] },
  github: OAUTH_CLIENT,
  /** Apple's client secret is a JWT Gatehouse signs (ES256) with the key `app_secret` (a PKCS#8 PEM). */
  apple: { required: ['client_id', 'team_id', 'kid', 'app_secret'], secrets: ['app_secret'] },
  facebook: OAUTH_CLIENT,
  samlp: { required: ['metadataUrl|metadataXml'], secrets: ['decryption_key', 'signing_key'] },
  ad: { required: ['url', 'base_dn'], secrets: ['bind_password'] },
};
