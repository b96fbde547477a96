import { importJWK, type JWK } from 'jose';
import type { AppContext } from '../../platform/context.js';
import type { ApplicationType, TokenEndpointAuthMethod } from '../../platform/db/schema.js';
import { AppError, type ErrorCode } from '../../platform/errors.js';
import { applicationDestinations, destinationProblem } from '../../platform/http/destinations.js';
import { type GrantType, isConfidential, redirectUriProblem } from './rules.js';

/**
 * The modern OAuth settings of an application (issue 17.3, decisions 415–429): how it
 * authenticates (a secret, or `private_key_jwt` with its public keys), whether it must push
 * its authorization requests (PAR), bind its tokens to a DPoP key, sign its request objects,
 * follow FAPI 2.0, and the page loaded at sign-out (front-channel logout).
 */
export interface ModernSettings {
  token_endpoint_auth_method: TokenEndpointAuthMethod | null;
  jwks: { keys: JWK[] } | null;
  jwks_uri: string | null;
  require_pushed_authorization_requests: boolean;
  dpop_bound_access_tokens: boolean;
  require_signed_request_object: boolean;
  fapi_profile: '2.0' | null;
  frontchannel_logout_uri: string | null;
}

export type ModernInput = Partial<ModernSettings>;

export const MODERN_FIELDS = [
  'token_endpoint_auth_method',
  'jwks',
  'jwks_uri',
  'require_pushed_authorization_requests',
  'dpop_bound_access_tokens',
  'require_signed_request_object',
  'fapi_profile',
  'frontchannel_logout_uri',
] as const satisfies readonly (keyof ModernSettings)[];

export const DEFAULT_MODERN: ModernSettings = {
  token_endpoint_auth_method: null,
  jwks: null,
  jwks_uri: null,
  require_pushed_authorization_requests: false,
  dpop_bound_access_tokens: false,
  require_signed_request_object: false,
  fapi_profile: null,
  frontchannel_logout_uri: null,
};

/** At most this many keys in an inline JWK Set. */
const MAX_KEYS = 10;
/** Members that only a private or secret key has: a JWK Set that carries one is refused (decision 418). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const KEY_TYPES = new Set(['RSA', 'EC', 'OKP']);
/** FAPI 2.0 §5.3.2.1: the grants of an authorization-code client (and its refresh tokens). */
const FAPI_GRANTS: readonly GrantType[] = ['authorization_code', 'refresh_token'];

const invalid = (code: ErrorCode, message: string, field: string) => new AppError(code, message, { field });

/** An inline JWK Set of public signing keys: RSA, EC or OKP, no private members, each one importable. */
async function checkJwks(jwks: { keys: JWK[] } | null): Promise<{ keys: JWK[] } | null> {
  if (jwks === null) return null;
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0 || jwks.keys.length > MAX_KEYS) {
    throw invalid('invalid_jwks', `jwks: "keys" must hold 1 to ${MAX_KEYS} keys`, 'jwks');
  }
  for (const [i, key] of jwks.keys.entries()) {
    if (typeof key !== 'object' || key === null || !KEY_TYPES.has(String(key.kty))) {
      throw invalid('invalid_jwks', `jwks: key ${i} is not an RSA, EC or OKP key`, 'jwks');
    }
    const secret = PRIVATE_MEMBERS.find((member) => member in key);
    if (secret) throw invalid('invalid_jwks', `jwks: key ${i} holds private key material ("${secret}"); give the public key only`, 'jwks');
    if (key.use !== undefined && key.use !== 'sig') throw invalid('invalid_jwks', `jwks: key ${i} is not a signing key`, 'jwks');
    try {
      await importJWK(key, key.alg ?? (key.kty === 'RSA' ? 'RS256' : key.kty === 'EC' ? 'ES256' : 'EdDSA'));
    } catch {
      throw invalid('invalid_jwks', `jwks: key ${i} is not a valid public key`, 'jwks');
    }
  }
  return { keys: jwks.keys.map((key) => ({ ...key })) };
}

/**
 * A URI Gatehouse fetches or shows as it is (`jwks_uri`, `frontchannel_logout_uri`): the rules
 * of a web application's redirect URIs, https only in production; a `jwks_uri` is fetched
 * by the server, so its host must also be one Gatehouse may call (decision 204).
 */
function checkUri(ctx: AppContext, field: string, uri: string | null): string | null {
  if (uri === null) return null;
  const problem =
    redirectUriProblem('web', uri) ??
    (isPlainOrigin(uri) ? undefined : 'has a host that is not a host name or an IP address') ??
    (ctx.config.production && !uri.toLowerCase().startsWith('https:') ? 'is not https' : undefined);
  if (problem) throw new AppError('invalid_redirect_uri', `${field}: "${uri}" ${problem}`, { field, uri });
  return uri;
}

/**
 * Whether the URI's origin is a scheme, a host name (letters, digits, dots, hyphens, after
 * the URL parser's punycode) or an IP address, and a port: the WHATWG parser lets `;`, `,`,
 * `'` and `*` into a host, and an origin goes into the sign-out page's CSP as it is
 * (frontchannel.ts), where `;` would end `frame-src` and start a directive of the client's.
 */
export function isPlainOrigin(uri: string): boolean {
  const url = URL.parse(uri);
  return url !== null && /^https?:\/\/([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]+)?$/.test(url.origin);
}

/**
 * A `jwks_uri` is fetched by the server: its host must be one Gatehouse may call (decision
 * 204; the engine's fetch judges the address again as it connects). Resolves the name, so
 * it is called before a row is locked.
 */
export async function checkJwksUriDestination(ctx: AppContext, uri: string | null | undefined): Promise<void> {
  if (!uri) return;
  checkUri(ctx, 'jwks_uri', uri);
  const refused = await destinationProblem(applicationDestinations(ctx.config), new URL(uri));
  if (refused) {
    const why = refused === 'unresolvable' ? 'does not resolve' : 'leads to a loopback, private, link-local or otherwise internal address';
    throw new AppError('destination_not_allowed', `jwks_uri: "${uri}" ${why}`, { field: 'jwks_uri', uri, reason: refused });
  }
}

/**
 * The settings as they will be stored, from the current ones and a change: checked
 * together, since they depend on one another and on the application's type and grants.
 * (`checkJwksUriDestination` judges where a `jwks_uri` leads.)
 */
export async function checkModern(
  ctx: AppContext,
  type: ApplicationType,
  grantTypes: readonly GrantType[],
  current: ModernSettings,
  change: ModernInput,
): Promise<ModernSettings> {
  const next: ModernSettings = { ...current };
  for (const field of MODERN_FIELDS) if (change[field] !== undefined) (next as unknown as Record<string, unknown>)[field] = change[field];
  if (change.jwks !== undefined) next.jwks = await checkJwks(change.jwks);
  if (change.jwks_uri !== undefined) next.jwks_uri = checkUri(ctx, 'jwks_uri', change.jwks_uri);
  if (change.frontchannel_logout_uri !== undefined) {
    next.frontchannel_logout_uri = checkUri(ctx, 'frontchannel_logout_uri', change.frontchannel_logout_uri);
  }
  // Setting one source of keys replaces the other.
  if (change.jwks && next.jwks_uri && change.jwks_uri === undefined) next.jwks_uri = null;
  if (change.jwks_uri && next.jwks && change.jwks === undefined) next.jwks = null;
  if (next.jwks && next.jwks_uri) throw invalid('invalid_jwks', 'Give jwks or jwks_uri, not both', 'jwks');

  const method = next.token_endpoint_auth_method;
  if (method !== null) {
    const allowed = isConfidential(type) ? method !== 'none' : method === 'none';
    if (!allowed) {
      throw invalid(
        'auth_method_not_allowed',
        isConfidential(type)
          ? `A ${type} application authenticates with client_secret_basic, client_secret_post or private_key_jwt`
          : `A ${type} application is a public client: its token_endpoint_auth_method is none`,
        'token_endpoint_auth_method',
      );
    }
  }
  const keys = next.jwks !== null || next.jwks_uri !== null;
  if (method === 'private_key_jwt' && !keys) {
    throw invalid('invalid_jwks', 'private_key_jwt needs the public keys: jwks or jwks_uri', 'jwks');
  }
  if (next.require_signed_request_object && !keys) {
    throw invalid('invalid_jwks', 'Signed request objects need the public keys: jwks or jwks_uri', 'jwks');
  }
  if (next.frontchannel_logout_uri !== null && type === 'm2m') {
    throw invalid('invalid_field', 'A machine-to-machine application has no users to sign out', 'frontchannel_logout_uri');
  }
  if (next.fapi_profile === '2.0') {
    if (type !== 'web')
      throw invalid('fapi_requirement', 'FAPI 2.0 applies to web applications (confidential, with users)', 'fapi_profile');
    if (method !== 'private_key_jwt') {
      throw invalid('fapi_requirement', 'FAPI 2.0 needs token_endpoint_auth_method private_key_jwt', 'token_endpoint_auth_method');
    }
    const refused = grantTypes.filter((g) => !FAPI_GRANTS.includes(g));
    if (refused.length > 0) {
      throw new AppError('fapi_requirement', `FAPI 2.0 allows authorization_code and refresh_token only, not ${refused.join(', ')}`, {
        field: 'grant_types',
        grant_types: refused,
      });
    }
    // FAPI 2.0 §5.3.1.2 and §5.3.2.1: pushed requests, sender-constrained tokens (DPoP here).
    next.require_pushed_authorization_requests = true;
    next.dpop_bound_access_tokens = true;
  }
  return next;
}

/** The stored columns of the settings. */
export const modernColumns = (settings: ModernSettings) => ({
  ...settings,
  jwks: settings.jwks === null ? null : JSON.stringify(settings.jwks),
});

/** The settings of a stored application. */
export const modernOf = (row: ModernSettings | { [K in keyof ModernSettings]: unknown }): ModernSettings =>
  Object.fromEntries(MODERN_FIELDS.map((field) => [field, (row as Record<string, unknown>)[field] ?? DEFAULT_MODERN[field]])) as never;
