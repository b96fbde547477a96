import { Type } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../platform/http/schemas.js';
import type { IdentitySummary } from './identities.js';

/** An identity as the API answers it (Auth0's `identities` entry): the user's own API and the administrators'. */
export const Identity = Type.Object(
  {
    connection: Type.String({ description: 'The connection’s name' }),
    display_name: Type.String({ description: 'The connection’s display name' }),
    provider: Type.String({ description: 'The strategy (google-oauth2, samlp, ad…)' }),
    user_id: Type.String({ description: 'The provider’s id of the person' }),
    profile_data: Type.Object({}, { additionalProperties: true, description: 'What the provider said at the last sign-in' }),
    created_at: Timestamp,
    last_login_at: Nullable(Timestamp),
  },
  { title: 'Identity' },
);
export const IdentityList = Type.Object({ identities: Type.Array(Identity) });

/** The connection's name and the provider's id of the person, in the path (URL-encoded). */
export const identityPath = {
  connection: Type.String({ minLength: 1, maxLength: 128 }),
  user_id: Type.String({ minLength: 1, maxLength: 1000 }),
};

export const toIdentity = (i: IdentitySummary) => ({
  ...i,
  created_at: i.created_at.toISOString(),
  last_login_at: i.last_login_at?.toISOString() ?? null,
});
