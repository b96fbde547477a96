import type { ApplicationType } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';

export const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

/** Auth0's MFA grant types, which complete a password grant answered `mfa_required` (the article's "MFA" checkbox). */
export const MFA_OTP = 'http://auth0.com/oauth/grant-type/mfa-otp';
export const MFA_OOB = 'http://auth0.com/oauth/grant-type/mfa-oob';
export const MFA_RECOVERY_CODE = 'http://auth0.com/oauth/grant-type/mfa-recovery-code';
const MFA_GRANTS = [MFA_OTP, MFA_OOB, MFA_RECOVERY_CODE] as const;
/** RFC 8693 token exchange (decision 430): for confidential applications only, which prove who exchanges. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** Auth0's password grant naming the connection (`realm`), and its passwordless one-time code grant (decision 387). */
export const PASSWORD_REALM = 'http://auth0.com/oauth/grant-type/password-realm';
export const PASSWORDLESS_OTP = 'http://auth0.com/oauth/grant-type/passwordless/otp';

export const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'password',
  PASSWORD_REALM,
  PASSWORDLESS_OTP,
  DEVICE_CODE,
  ...MFA_GRANTS,
  TOKEN_EXCHANGE,
] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

export const APPLICATION_TYPES = ['web', 'spa', 'native', 'm2m'] as const satisfies readonly ApplicationType[];

/** Confidential clients hold a secret; SPAs and native apps cannot keep one. */
export const isConfidential = (type: ApplicationType): boolean => type === 'web' || type === 'm2m';

/** What each type may ask for (decision 29): `password` is never a default, `client_credentials` is for m2m alone. */
const ALLOWED: Record<ApplicationType, readonly GrantType[]> = {
  web: ['authorization_code', 'refresh_token', 'password', PASSWORD_REALM, PASSWORDLESS_OTP, DEVICE_CODE, ...MFA_GRANTS, TOKEN_EXCHANGE],
  spa: ['authorization_code', 'refresh_token', PASSWORDLESS_OTP],
  native: ['authorization_code', 'refresh_token', 'password', PASSWORD_REALM, PASSWORDLESS_OTP, DEVICE_CODE, ...MFA_GRANTS],
  m2m: ['client_credentials', TOKEN_EXCHANGE],
};

export const defaultGrantTypes = (type: ApplicationType): GrantType[] =>
  type === 'm2m' ? ['client_credentials'] : ['authorization_code', 'refresh_token'];

/** Grants that issue refresh tokens; `refresh_token` alone would never be used. */
const ISSUES_REFRESH_TOKENS: readonly GrantType[] = ['authorization_code', 'password', PASSWORD_REALM, PASSWORDLESS_OTP, DEVICE_CODE];

/** The grant types of an application of `type`, each once, in the order given; refuses what the type may not use. */
export function checkGrantTypes(type: ApplicationType, grantTypes: readonly GrantType[]): GrantType[] {
  const unique = [...new Set(grantTypes)];
  const refused = unique.filter((g) => !ALLOWED[type].includes(g));
  if (refused.length > 0) {
    throw new AppError('grant_not_allowed', `A ${type} application may not use ${refused.join(', ')}`, {
      grant_types: refused,
      allowed: ALLOWED[type],
    });
  }
  if (unique.includes('refresh_token') && !unique.some((g) => ISSUES_REFRESH_TOKENS.includes(g))) {
    throw new AppError(
      'grant_not_allowed',
      'refresh_token needs a grant that issues refresh tokens (authorization_code, password, device code)',
      {
        grant_types: ['refresh_token'],
      },
    );
  }
  if (
    unique.some((g) => (MFA_GRANTS as readonly string[]).includes(g)) &&
    !unique.includes('password') &&
    !unique.includes(PASSWORD_REALM)
  ) {
    throw new AppError('grant_not_allowed', 'The MFA grants complete a password grant: add password (or password-realm) too', {
      grant_types: unique.filter((g) => (MFA_GRANTS as readonly string[]).includes(g)),
    });
  }
  return unique;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
/** RFC 8252 §7.1: a private-use scheme is a reversed domain name, so it has a dot (and is never javascript: or data:). */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/;

/**
 * Why `uri` cannot be a redirect (or post-logout redirect) URI of an application of
 * `type`, or undefined when it can: absolute, no fragment, no userinfo, no wildcard;
 * https, or http to a loopback host; native apps may also use a private-use scheme.
 */
export function redirectUriProblem(type: ApplicationType, uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  if (uri.includes('#')) return 'has a fragment';
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(uri) || url.username || url.password) return 'has userinfo';
  if (url.protocol === 'https:') return url.hostname && !url.hostname.includes('*') ? undefined : 'has no valid host';
  if (url.protocol === 'http:') {
    return LOOPBACK_HOSTS.has(url.hostname) ? undefined : 'uses http for a host other than localhost, 127.0.0.1 or [::1]';
  }
  if (type === 'native' && PRIVATE_USE_SCHEME.test(url.protocol)) return undefined;
  return type === 'native' ? 'uses a scheme that is neither https nor a reversed domain name (com.example.app:)' : 'is not https';
}

/** Refuses the first URI of the list that cannot be used, naming the field it came from. */
export function checkRedirectUris(type: ApplicationType, field: string, uris: readonly string[]): string[] {
  for (const uri of uris) {
    const problem = redirectUriProblem(type, uri);
    if (problem) throw new AppError('invalid_redirect_uri', `${field}: "${uri}" ${problem}`, { field, uri });
  }
  return [...new Set(uris)];
}

/**
 * Auth0's allowed web origins (decision 393): where `response_mode=web_message` answers
 * go. Each is an origin exactly as a browser writes it (`https://app.example.com`, no
 * path, no trailing slash, no wildcard), https or http to a loopback host; only browser
 * applications (spa, web) have them.
 */
export function checkWebOrigins(type: ApplicationType, origins: readonly string[]): string[] {
  if (origins.length > 0 && type !== 'spa' && type !== 'web') {
    throw new AppError('invalid_web_origin', `A ${type} application has no web origins`, { field: 'web_origins' });
  }
  for (const origin of origins) {
    const problem =
      redirectUriProblem('web', origin) ??
      (URL.canParse(origin) && new URL(origin).origin === origin ? undefined : 'is not an origin (scheme://host[:port], nothing after)');
    if (problem) throw new AppError('invalid_web_origin', `web_origins: "${origin}" ${problem}`, { field: 'web_origins', origin });
  }
  return [...new Set(origins)];
}

/** The grant that sends users to a redirect URI needs one to send them to. */
export function checkRedirectNeeded(grantTypes: readonly GrantType[], redirectUris: readonly string[]) {
  if (grantTypes.includes('authorization_code') && redirectUris.length === 0) {
    throw new AppError('missing_redirect_uri', 'An application with the authorization_code grant needs at least one redirect URI', {
      field: 'redirect_uris',
    });
  }
}

/**
 * A back-channel logout URI (OIDC Back-Channel Logout 1.0 §2.2): absolute, no fragment or
 * userinfo; https, or (outside production) http to a loopback host, like redirect URIs.
 * Gatehouse POSTs to it from the server, so production allows https only.
 */
export function checkBackchannelLogoutUri(uri: string | null, production: boolean): string | null {
  if (uri === null) return null;
  const problem = redirectUriProblem('web', uri) ?? (production && !uri.toLowerCase().startsWith('https:') ? 'is not https' : undefined);
  if (problem) {
    throw new AppError('invalid_redirect_uri', `backchannel_logout_uri: "${uri}" ${problem}`, { field: 'backchannel_logout_uri', uri });
  }
  return uri;
}
