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
];

export interface GatehouseClient {
  tenantId: string;
  firstParty: boolean;
  organizationRequired: boolean;
  /** The application's own MFA policy; null: its tenant's. */
  mfaPolicy: 'off' | 'optional' | 'required' | null;
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
  return {
    client_id: app.client_id,
    client_name: app.name,
    ...(confidential && { client_secret: app.client_secret_digest as string }),
    token_endpoint_auth_method: confidential ? 'client_secret_basic' : 'none',
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
