import { Type } from '@sinclair/typebox';
import type { Application } from '../../platform/db/schema.js';
import { Nullable } from '../../platform/http/schemas.js';
import { modernOf } from './modern.js';

/** The modern OAuth settings in the admin API (decisions 415–429; docs/connect-an-application.md). */
const AuthMethod = Type.Union(
  [Type.Literal('client_secret_basic'), Type.Literal('client_secret_post'), Type.Literal('private_key_jwt'), Type.Literal('none')],
  { description: 'How the application authenticates at the token endpoint; null (default): client_secret_basic, or none for spa/native' },
);
const Jwk = Type.Object(
  { kty: Type.String({ maxLength: 10 }) },
  { additionalProperties: Type.Unknown(), description: 'A public JWK (RSA, EC or OKP); private members are refused' },
);
const Jwks = Type.Object(
  { keys: Type.Array(Jwk, { minItems: 1, maxItems: 10 }) },
  { additionalProperties: false, description: 'The application’s public keys: private_key_jwt assertions and signed request objects' },
);
const Uri = (description: string) => Type.String({ minLength: 1, maxLength: 2000, description });
const Fapi = Type.Union([Type.Literal('2.0'), Type.Null()], {
  description: 'FAPI 2.0 Security Profile: PAR, PKCE S256, DPoP-bound tokens, private_key_jwt, code flow only',
});

export const modernFields = {
  token_endpoint_auth_method: Type.Optional(Nullable(AuthMethod)),
  jwks: Type.Optional(Nullable(Jwks)),
  jwks_uri: Type.Optional(
    Nullable(Uri('Where Gatehouse fetches the application’s public keys (cached per its Cache-Control, at least a minute); https')),
  ),
  require_pushed_authorization_requests: Type.Optional(
    Type.Boolean({ description: 'Default false; authorization requests only through PAR (RFC 9126)' }),
  ),
  dpop_bound_access_tokens: Type.Optional(
    Type.Boolean({ description: 'Default false; every token request carries a DPoP proof, tokens are bound to its key (RFC 9449)' }),
  ),
  require_signed_request_object: Type.Optional(
    Type.Boolean({ description: 'Default false; authorization requests only as request objects signed with its keys (RFC 9101)' }),
  ),
  fapi_profile: Type.Optional(Fapi),
  frontchannel_logout_uri: Type.Optional(
    Nullable(Uri('OIDC Front-Channel Logout: a page of the application loaded in an iframe at sign-out, with iss and sid')),
  ),
};

export const modernResponseFields = {
  token_endpoint_auth_method: Nullable(AuthMethod),
  jwks: Nullable(Jwks),
  jwks_uri: Nullable(Type.String()),
  require_pushed_authorization_requests: Type.Boolean(),
  dpop_bound_access_tokens: Type.Boolean(),
  require_signed_request_object: Type.Boolean(),
  fapi_profile: Fapi,
  frontchannel_logout_uri: Nullable(Type.String()),
};

export const toModern = (a: Application) =>
  modernOf(a) as Omit<ReturnType<typeof modernOf>, 'jwks'> & { jwks: { keys: { kty: string }[] } | null };
