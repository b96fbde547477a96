import { Type } from '@sinclair/typebox';
import { type FlowOf, flowType, Proof, RETURNING } from '../kit/flows.js';

/** What a provider said about the person (src/authn/federation/strategy.ts UpstreamProfile), as the flow keeps it. */
export const StoredProfile = Type.Object({
  subject: Type.String(),
  provider: Type.String(),
  email: Type.Optional(Type.String()),
  emailVerified: Type.Boolean(),
  name: Type.Optional(Type.String()),
  givenName: Type.Optional(Type.String()),
  familyName: Type.Optional(Type.String()),
  picture: Type.Optional(Type.String()),
  locale: Type.Optional(Type.String()),
  claims: Type.Record(Type.String(), Type.Unknown()),
  mfa: Type.Boolean(),
});

/**
 * A sign-in through a connection (src/flows/federation/, docs/federation.md#sign-in):
 *
 *   redirected ─ the provider answered, checked ─→ verified ─→ returning → done
 *        │                                           └─ an account has that email ─→ link_required ─ its password ─→ returning → done
 *        └─ the person cancelled there ─→ cancelled (the application gets access_denied)
 *
 * A password connection (`ad`) starts in `verified`. The data: the connection, the
 * strategy's `saved` values (sealed: a PKCE verifier, a nonce), the hash of the secret half
 * of the `state` sent to the provider, then the verified profile, the account to link
 * (`link_user`) and, once its password is proved, the identity to write when the sign-in
 * ends with its second factor (`link_pending`, written by finishPendingLink).
 *
 * From the account page (`account`, returning to /account/identities) the verified flow adds
 * the identity to the signed-in user who started it (finishAccountLink), and goes `done`.
 */
export const FEDERATION = flowType(
  'federation',
  ['redirected', 'verified', 'link_required', 'cancelled', ...RETURNING],
  Type.Object({
    connection_id: Type.String(),
    saved_sealed: Type.Optional(Type.String()),
    state_hash: Type.Optional(Type.String()),
    profile: Type.Optional(StoredProfile),
    link_user: Type.Optional(Type.String()),
    link_pending: Type.Optional(Type.Boolean()),
    proved: Type.Optional(Proof),
    /** A link from the account page (account-link.ts): the signed-in user and session that started it. */
    account: Type.Optional(Type.Object({ user_id: Type.String(), session_id: Type.String() })),
  }),
);
export type FederationFlow = FlowOf<typeof FEDERATION>;
