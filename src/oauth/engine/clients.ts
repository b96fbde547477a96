import type { AdapterPayload } from 'oidc-provider';
import type { Db } from '../../platform/db/database.js';

export const PASSWORD_GRANT = 'password';
/** Auth0's password grant with a `realm` (src/oauth/applications/rules.ts PASSWORD_REALM). */
export const PASSWORD_REALM_GRANT = 'http://auth0.com/oauth/grant-type/password-realm';
export const PASSWORDLESS_OTP_GRANT = 'http://auth0.com/oauth/grant-type/passwordless/otp';
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8693 (token-exchange.ts); it audits its own tokens. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** Client metadata Gatehouse adds to the standard set (oidc-provider's extraClientMetadata). */
export const EXTRA_CLIENT_METADATA = [
  'gatehouse_tenant_id',
  'gatehouse_first_party',
  'gatehouse_organization_required',
  'gatehouse_mfa_policy',
  'gatehouse_web_origins',
  'gatehouse_fapi_profile',
  'gatehouse_frontchannel_logout_uri',
];

export interface GatehouseClient {
  tenantId: string;
  firstParty: boolean;
  organizationRequired: boolean;
  /** The application's own MFA policy; null: its tenant's. */
  mfaPolicy: 'off' | 'optional' | 'required' | null;
  /** The FAPI profile the application follows (decision 419); undefined: none. */
  fapiProfile: '2.0' | undefined;
  /** OIDC Front-Channel Logout 1.0: the page loaded in an iframe at sign-out (decision 424). */
  frontchannelLogoutUri: string | undefined;
}

const ours = new WeakMap<object, GatehouseClient>();

/**
 * Reads our own part of a client's metadata back from oidc-provider's client object (once
 * per client object: the engine rebuilds the whole metadata on every `metadata()` call).
 */
export function gatehouseClient(client: { metadata(): Record<string, unknown> }): GatehouseClient {
  let own = ours.get(client);
  if (!own) {
    const metadata = client.metadata();
    own = {
      tenantId: metadata.gatehouse_tenant_id as string,
      firstParty: metadata.gatehouse_first_party === true,
      organizationRequired: metadata.gatehouse_organization_required === true,
      mfaPolicy: (metadata.gatehouse_mfa_policy as GatehouseClient['mfaPolicy'] | undefined) ?? null,
      fapiProfile: metadata.gatehouse_fapi_profile === '2.0' ? '2.0' : undefined,
      frontchannelLogoutUri: (metadata.gatehouse_frontchannel_logout_uri as string | undefined) ?? undefined,
    };
    ours.set(client, own);
  }
  return own;
}

/**
 * An application as oidc-provider's client metadata. The client secret is stored only as
 * a keyed digest (docs/architecture.md#domain-model), so the engine is given the digest as the secret, and every
 * secret a client presents is turned into its digest before the engine compares them
 * (`clientSecretDigest`). Public clients (SPA, native) authenticate with PKCE alone.
 */
export async function clientMetadata(db: Db, clientId: string, tokenExchange = true): Promise<AdapterPayload | undefined> {
  // An application of a suspended tenant does not exist for the engine (docs/security.md#v3-session-management).
  const app = await db
    .selectFrom('applications as a')
    .innerJoin('tenants as t', 't.id', 'a.tenant_id')
    .selectAll('a')
    .where('a.client_id', '=', clientId)
    .where('t.status', '=', 'active')
    .executeTakeFirst();
  if (!app) return undefined;
  const confidential = app.client_secret_digest !== null;
  const authMethod = app.token_endpoint_auth_method ?? (confidential ? 'client_secret_basic' : 'none');
  const fapi = app.fapi_profile === '2.0';
  return {
    client_id: app.client_id,
    client_name: app.name,
    // A client that signs its assertions has no secret the engine would accept (decision 418).
    ...(confidential && authMethod !== 'private_key_jwt' && { client_secret: app.client_secret_digest as string }),
    token_endpoint_auth_method: authMethod,
    ...(app.jwks && { jwks: app.jwks }),
    ...(app.jwks_uri && { jwks_uri: app.jwks_uri }),
    // FAPI 2.0 (decision 419): pushed requests and DPoP-bound tokens whatever the flags say.
    ...((app.require_pushed_authorization_requests || fapi) && { require_pushed_authorization_requests: true }),
    ...((app.dpop_bound_access_tokens || fapi) && { dpop_bound_access_tokens: true }),
    ...(app.require_signed_request_object && { require_signed_request_object: true }),
    application_type: app.type === 'native' ? 'native' : 'web',
    // With token exchange switched off the engine does not know its grant: the rest of the application still works.
    grant_types: tokenExchange ? app.grant_types : app.grant_types.filter((grant) => grant !== TOKEN_EXCHANGE_GRANT),
    response_types: app.grant_types.includes('authorization_code') ? ['code'] : [],
    // A web origin is a redirect URI for `response_mode=web_message` only (decision 393, web-message.ts).
    redirect_uris: [...new Set([...app.redirect_uris, ...app.web_origins])],
    post_logout_redirect_uris: app.post_logout_redirect_uris,
    // OIDC Back-Channel Logout: the engine puts `sid` into ID tokens and notifies at its own
    // end-session; revocations by Gatehouse itself go through our queue (decision 124).
    ...(app.backchannel_logout_uri && { backchannel_logout_uri: app.backchannel_logout_uri, backchannel_logout_session_required: true }),
    gatehouse_tenant_id: app.tenant_id,
    gatehouse_first_party: app.first_party,
    gatehouse_organization_required: app.organization_required,
    gatehouse_mfa_policy: app.mfa_policy,
    gatehouse_web_origins: app.web_origins,
    ...(fapi && { gatehouse_fapi_profile: '2.0' }),
    ...(app.frontchannel_logout_uri && { gatehouse_frontchannel_logout_uri: app.frontchannel_logout_uri }),
  };
}

/**
 * HTTP Basic client credentials (RFC 6749 §2.3.1: both parts form-urlencoded), or
 * undefined when the header is not Basic or does not parse. `rawId` is the id as sent.
 */
export function parseBasicCredentials(header: string): { rawId: string; clientId: string; secret: string } | undefined {
  const [scheme, encoded] = header.split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !encoded) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (part: string) => decodeURIComponent(part.replace(/\+/g, ' '));
  try {
    const rawId = decoded.slice(0, colon);
    return { rawId, clientId: formDecode(rawId), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}
