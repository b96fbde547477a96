import type { Application, ApplicationType, TokenEndpointAuthMethod } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import type { ApplicationInput, ApplicationPatch } from '../applications/applications.js';
import { modernOf } from '../applications/modern.js';
import type { GrantType } from '../applications/rules.js';

/**
 * RFC 7591 client metadata ↔ a Gatehouse application (decision 422). A registered client
 * gets what an administrator could give it, less: never first-party (its users are asked
 * for consent), only the grants a client may ask for on its own (authorization code,
 * refresh token, client credentials; never password, device code or the MFA grants), and
 * the redirect URI rules of the admin API, which checks them (applications.ts).
 */

const REGISTRABLE_GRANTS: readonly string[] = ['authorization_code', 'refresh_token', 'client_credentials'];
const AUTH_METHODS: readonly string[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'];
/** A client name, as the admin API takes it: no control or invisible characters. */
const NAME_PATTERN = /^[^\p{C}]+$/u;

export type RegistrationMetadata = Record<string, unknown>;

const refuse = (message: string) => new AppError('invalid_field', message, { oauth_error: 'invalid_client_metadata' });

function strings(meta: RegistrationMetadata, field: string, max = 100): string[] | undefined {
  const value = meta[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > max || value.some((v) => typeof v !== 'string' || v.length === 0 || v.length > 2000)) {
    throw refuse(`${field} must be an array of at most ${max} URIs or names`);
  }
  return value as string[];
}

function text(meta: RegistrationMetadata, field: string): string | undefined {
  const value = meta[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 2000) throw refuse(`${field} must be a non-empty string`);
  return value;
}

function flag(meta: RegistrationMetadata, field: string): boolean | undefined {
  const value = meta[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw refuse(`${field} must be true or false`);
  return value;
}

/** The application type a registration describes, from its grants, authentication and `application_type`. */
function typeOf(grants: string[], auth: string, applicationType: string | undefined): ApplicationType {
  if (grants.includes('client_credentials')) {
    if (grants.length > 1) throw refuse('client_credentials cannot be registered together with other grant types');
    if (auth === 'none') throw refuse('client_credentials needs client authentication');
    return 'm2m';
  }
  if (auth === 'none') return applicationType === 'native' ? 'native' : 'spa';
  return 'web';
}

/** The application a registration asks for, checked as far as the metadata alone allows. */
export function applicationFromMetadata(meta: RegistrationMetadata): ApplicationInput & { type: ApplicationType } {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw refuse('The registration must be a JSON object');
  const grants = strings(meta, 'grant_types', 10) ?? ['authorization_code'];
  const refused = grants.filter((g) => !REGISTRABLE_GRANTS.includes(g));
  if (refused.length > 0) throw refuse(`grant_types: ${refused.join(', ')} cannot be registered; ask an administrator`);
  const responseTypes = strings(meta, 'response_types', 5);
  const wantsCode = grants.includes('authorization_code');
  if (responseTypes?.some((r) => r !== 'code')) throw refuse('response_types: only code is supported');
  if (responseTypes?.length && !wantsCode) throw refuse('response_types code needs the authorization_code grant');
  const auth = text(meta, 'token_endpoint_auth_method') ?? 'client_secret_basic';
  if (!AUTH_METHODS.includes(auth)) throw refuse(`token_endpoint_auth_method: ${auth} is not supported`);
  const applicationType = text(meta, 'application_type');
  if (applicationType !== undefined && applicationType !== 'web' && applicationType !== 'native') {
    throw refuse('application_type must be web or native');
  }
  const type = typeOf(grants, auth, applicationType);
  const name = text(meta, 'client_name') ?? 'Registered application';
  if (name.length > 200 || !NAME_PATTERN.test(name)) throw refuse('client_name: at most 200 characters, no control characters');
  const jwks = meta.jwks;
  if (jwks !== undefined && jwks !== null && (typeof jwks !== 'object' || Array.isArray(jwks))) throw refuse('jwks must be a JWK Set');
  const input: ApplicationInput & { type: ApplicationType } = {
    name,
    type,
    first_party: false,
    grant_types: grants as GrantType[],
    redirect_uris: strings(meta, 'redirect_uris') ?? [],
    post_logout_redirect_uris: strings(meta, 'post_logout_redirect_uris') ?? [],
    token_endpoint_auth_method: auth === 'client_secret_basic' ? null : (auth as TokenEndpointAuthMethod),
  };
  if (type === 'spa' || type === 'native') input.token_endpoint_auth_method = null;
  const optional: Partial<ApplicationInput> = {
    ...(jwks ? { jwks: jwks as never } : {}),
    ...(text(meta, 'jwks_uri') !== undefined && { jwks_uri: text(meta, 'jwks_uri') as string }),
    ...(text(meta, 'backchannel_logout_uri') !== undefined && { backchannel_logout_uri: text(meta, 'backchannel_logout_uri') as string }),
    ...(text(meta, 'frontchannel_logout_uri') !== undefined && {
      frontchannel_logout_uri: text(meta, 'frontchannel_logout_uri') as string,
    }),
    ...(flag(meta, 'require_pushed_authorization_requests') !== undefined && {
      require_pushed_authorization_requests: flag(meta, 'require_pushed_authorization_requests') as boolean,
    }),
    ...(flag(meta, 'dpop_bound_access_tokens') !== undefined && {
      dpop_bound_access_tokens: flag(meta, 'dpop_bound_access_tokens') as boolean,
    }),
    ...(flag(meta, 'require_signed_request_object') !== undefined && {
      require_signed_request_object: flag(meta, 'require_signed_request_object') as boolean,
    }),
  };
  return { ...input, ...optional };
}

/**
 * RFC 7592 §2.2: an update replaces the metadata. The type of an application is fixed, so
 * the update must describe the same type; what it leaves out returns to its default.
 */
export function patchFromMetadata(current: Application, meta: RegistrationMetadata): ApplicationPatch {
  const { type, first_party: _, ...input } = applicationFromMetadata(meta);
  if (type !== current.type) throw refuse(`This registration is a ${current.type} application; its type cannot change`);
  return {
    jwks: null,
    jwks_uri: null,
    backchannel_logout_uri: null,
    frontchannel_logout_uri: null,
    require_pushed_authorization_requests: false,
    dpop_bound_access_tokens: false,
    require_signed_request_object: false,
    ...input,
  };
}

/** The registered metadata of an application (RFC 7591 §3.2.1), never its secret. */
export function metadataOf(app: Application): Record<string, unknown> {
  const modern = modernOf(app);
  const confidential = app.client_secret_digest !== null;
  return {
    client_id: app.client_id,
    client_id_issued_at: Math.floor(app.created_at.getTime() / 1000),
    client_name: app.name,
    application_type: app.type === 'native' ? 'native' : 'web',
    grant_types: app.grant_types,
    response_types: app.grant_types.includes('authorization_code') ? ['code'] : [],
    redirect_uris: app.redirect_uris,
    post_logout_redirect_uris: app.post_logout_redirect_uris,
    token_endpoint_auth_method: modern.token_endpoint_auth_method ?? (confidential ? 'client_secret_basic' : 'none'),
    ...(modern.jwks && { jwks: modern.jwks }),
    ...(modern.jwks_uri && { jwks_uri: modern.jwks_uri }),
    ...(app.backchannel_logout_uri && { backchannel_logout_uri: app.backchannel_logout_uri }),
    ...(modern.frontchannel_logout_uri && { frontchannel_logout_uri: modern.frontchannel_logout_uri }),
    require_pushed_authorization_requests: modern.require_pushed_authorization_requests,
    dpop_bound_access_tokens: modern.dpop_bound_access_tokens,
    require_signed_request_object: modern.require_signed_request_object,
  };
}
