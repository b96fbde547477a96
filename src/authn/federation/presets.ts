import { importPKCS8, SignJWT } from 'jose';
import type { AppContext } from '../../platform/context.js';
import { type OAuth2Preset, oauth2StrategyOf } from './oauth2.js';
import { type OidcPreset, oidcStrategyOf } from './oidc.js';
import { type Connection, FederationError, type RedirectStrategy, type Strategy, type UpstreamProfile } from './strategy.js';
import { listOption, requiredOption, stringOption } from './upstream.js';

/**
 * The social and enterprise presets (docs/federation.md#openid-connect-oauth-2-and-the-presets): data
 * (endpoints, scopes, how the claims become the person) over the two generic strategies,
 * ./oidc.ts and ./oauth2.ts. The test-only option `base_url` (./upstream.ts) sends every
 * request to a local server instead.
 */

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
const scopeOf = (connection: Connection, fallback: string) => listOption(connection, 'scope')?.join(' ') || fallback;

/** The OIDC presets' shared parts: the code flow, client_id and client_secret. */
function oidcPreset(provider: string, discovery: (c: Connection) => string, rest: Partial<OidcPreset> = {}): RedirectStrategy {
  return oidcStrategyOf({
    provider,
    discovery,
    scope: (c) => scopeOf(c, 'openid profile email'),
    frontChannel: () => false,
    userinfo: false,
    ...rest,
  });
}

// ---- Google ----------------------------------------------------------------------------------

/** `allowed_hd`: the Google Workspace domains allowed (the `hd` claim); absent: any account. */
const google = oidcPreset('google-oauth2', () => 'https://accounts.google.com', {
  userinfo: true,
  authorizationParams: (c): Record<string, string> => {
    const domains = listOption(c, 'allowed_hd');
    return domains?.length === 1 ? { hd: domains[0] as string } : {};
  },
  profile: (claims, _params, c) => {
    const domains = listOption(c, 'allowed_hd');
    // The `hd` parameter is only a hint to Google's page: the signed claim is what counts.
    if (domains && !domains.includes(String(claims.hd))) {
      throw new FederationError('invalid_response', `the Google account is not in an allowed domain (hd ${String(claims.hd ?? 'none')})`);
    }
    return { subject: String(claims.sub) };
  },
});

// ---- Microsoft --------------------------------------------------------------------------------

const MICROSOFT = 'https://login.microsoftonline.com';
const MULTI_TENANT = ['common', 'organizations'];

/**
 * Microsoft's checks on top of openid-client's (which, for login.microsoftonline.com, takes the
 * issuer template `https://login.microsoftonline.com/{tenantid}/v2.0` with the token's `tid`):
 * `iss` is the template with `tid`, here too, so a token of one tenant cannot pass as another's.
 * The email counts as verified only with the optional claim `xms_edov: true` (decision 247):
 * Entra ID lets a tenant administrator set any unverified address as a user's `email`.
 */
function microsoftClaims(claims: Record<string, unknown>): { tid: string; emailVerified: boolean } {
  const tid = text(claims.tid);
  if (!tid || !/^[0-9a-f-]{36}$/i.test(tid)) throw new FederationError('invalid_response', 'the Microsoft token has no tenant id (tid)');
  if (claims.iss !== `${MICROSOFT}/${tid}/v2.0`)
    throw new FederationError('invalid_response', `the token's issuer ${String(claims.iss)} is not its tenant's (${tid})`);
  return { tid, emailVerified: claims.xms_edov === true };
}

const windowslive = oidcPreset('windowslive', () => `${MICROSOFT}/consumers/v2.0`, {
  profile: (claims) => ({ subject: String(claims.sub), emailVerified: microsoftClaims(claims).emailVerified }),
});

/** Entra ID: `tenant_id` or `tenant_domain`; `common`/`organizations` with `allowed_tenants` (absent: any tenant). */
const waad = oidcPreset(
  'waad',
  (c) => `${MICROSOFT}/${encodeURIComponent(stringOption(c, 'tenant_id') ?? requiredOption(c, 'tenant_domain'))}/v2.0`,
  {
    profile: (claims, _params, c) => {
      const { tid, emailVerified } = microsoftClaims(claims);
      const tenant = stringOption(c, 'tenant_id') ?? stringOption(c, 'tenant_domain') ?? '';
      const allowed = listOption(c, 'allowed_tenants');
      if (MULTI_TENANT.includes(tenant) && allowed && !allowed.includes(tid)) {
        throw new FederationError('invalid_response', `the tenant ${tid} is not allowed on this connection`);
      }
      const oid = text(claims.oid);
      if (!oid) throw new FederationError('invalid_response', 'the Entra ID token has no object id (oid): add the profile scope');
      // Never the email or preferred_username: both are editable by a tenant administrator (nOAuth).
      return { subject: `${tid}:${oid}`, emailVerified };
    },
  },
);

// ---- Apple ------------------------------------------------------------------------------------

const APPLE = 'https://appleid.apple.com';
/** The client secret JWT lives 10 minutes; the configuration holding it is kept 5 (./oidc.ts). */
const APPLE_SECRET_SECONDS = 600;

/** Apple's client secret: an ES256 JWT signed with the key Apple issued (`app_secret`, PKCS#8 PEM). */
async function appleClientSecret(ctx: AppContext, c: Connection): Promise<string> {
  const pem = c.secrets.app_secret;
  if (!pem) throw new FederationError('misconfigured', 'the connection has no app_secret');
  let key: Awaited<ReturnType<typeof importPKCS8>>;
  try {
    key = await importPKCS8(pem, 'ES256');
  } catch {
    throw new FederationError('misconfigured', 'app_secret is not a PKCS#8 PEM EC P-256 key');
  }
  const now = Math.floor(ctx.clock.now().getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: requiredOption(c, 'kid') })
    .setIssuer(requiredOption(c, 'team_id'))
    .setSubject(requiredOption(c, 'client_id'))
    .setAudience(APPLE)
    .setIssuedAt(now)
    .setExpirationTime(now + APPLE_SECRET_SECONDS)
    .sign(key);
}

/** The `user` field Apple posts once, at the first sign-in: the name (its email is not signed, so not used). */
function appleUserName(params: Record<string, string>): Partial<UpstreamProfile> {
  try {
    const name = (JSON.parse(params.user ?? '{}') as { name?: { firstName?: unknown; lastName?: unknown } }).name;
    const givenName = text(name?.firstName);
    const familyName = text(name?.lastName);
    const full = [givenName, familyName].filter(Boolean).join(' ');
    return { givenName, familyName, name: full || undefined };
  } catch {
    return {};
  }
}

const apple = oidcPreset('apple', () => APPLE, {
  scope: (c) => scopeOf(c, 'name email'),
  formPost: true,
  clientSecret: appleClientSecret,
  profile: (claims, params) => ({
    subject: String(claims.sub),
    // Apple sends email_verified as the string "true" (decision 246).
    emailVerified: claims.email_verified === true || claims.email_verified === 'true',
    ...appleUserName(params),
  }),
});

// ---- GitHub and Facebook (OAuth 2) -----------------------------------------------------------

const github: OAuth2Preset = {
  provider: 'github',
  endpoints: () => ({
    authorization: 'https://github.com/login/oauth/authorize',
    token: 'https://github.com/login/oauth/access_token',
    userinfo: 'https://api.github.com/user',
  }),
  scope: (c) => scopeOf(c, 'read:user user:email'),
  headers: { accept: 'application/vnd.github+json', 'user-agent': 'Gatehouse', 'x-github-api-version': '2022-11-28' },
  /** The email: the primary one when GitHub marks it verified (/user/emails); else the public one, unverified. */
  async profile(user, read) {
    let emails: unknown = [];
    try {
      emails = await read('https://api.github.com/user/emails');
    } catch (error) {
      // Without the user:email scope GitHub answers 403/404: the public email only, unverified.
      if (!(error instanceof FederationError) || error.code !== 'provider_error') throw error;
    }
    const list = Array.isArray(emails) ? (emails as Array<{ email?: unknown; primary?: unknown; verified?: unknown }>) : [];
    const primary = list.find((e) => e.primary === true && e.verified === true && text(e.email));
    const email = text(primary?.email) ?? text(user.email);
    return {
      subject: String(user.id ?? ''),
      email,
      emailVerified: primary !== undefined || list.some((e) => e.email === email && e.verified === true),
      name: text(user.name) ?? text(user.login),
      picture: text(user.avatar_url),
    };
  },
};

const GRAPH = 'https://graph.facebook.com';
const facebook: OAuth2Preset = {
  provider: 'facebook',
  endpoints: () => ({
    authorization: 'https://www.facebook.com/v19.0/dialog/oauth',
    token: `${GRAPH}/v19.0/oauth/access_token`,
    userinfo: `${GRAPH}/me?fields=id,name,email,first_name,last_name,picture`,
  }),
  scope: (c) => scopeOf(c, 'email public_profile'),
  /** Facebook does not document its email as verified: never taken as verified. */
  profile: async (me) => ({
    subject: String(me.id ?? ''),
    emailVerified: false,
    givenName: text(me.first_name),
    familyName: text(me.last_name),
    picture: text((me.picture as { data?: { url?: unknown } } | undefined)?.data?.url),
  }),
};

export const PRESETS: Record<
  Extract<Strategy, 'google-oauth2' | 'windowslive' | 'waad' | 'github' | 'apple' | 'facebook'>,
  RedirectStrategy
> = {
  'google-oauth2': google,
  windowslive,
  waad,
  github: oauth2StrategyOf(github),
  apple,
  facebook: oauth2StrategyOf(facebook),
};
