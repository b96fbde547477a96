import { type Static, Type } from '@sinclair/typebox';
import { type FlowOf, flowType, Proof, RETURNING } from '../kit/flows.js';

/**
 * Invitations (issue 5, part 3), stored as flows of kind `invitation` with an emailed
 * single-use link (7 days):
 * - `activate`: the link's page sets the first password (the mailbox is proved, so the
 *   email counts as verified) and signs in. Either an administrator created a pending user
 *   (the flow names it), or a tenant invited an address without an account: then the flow
 *   names no user and the account is made when the link is accepted (decision 186).
 * - `join`: an existing user is invited into another tenant with roles; they accept signed
 *   in as that account (with their second factor, if they have one).
 */
export const INVITATION_DATA = Type.Object({
  mode: Type.Union([Type.Literal('activate'), Type.Literal('join')]),
  /**
   * Role ids of the membership an invitation into a tenant adds when accepted (checked against the inviter's rights when
   * invited, and again when accepted); absent for the activation of a user who is a member already.
   */
  roles: Type.Optional(Type.Array(Type.String())),
  /** Who invited, in which scope and tenant (the tenant the inviter acted in): rechecked at acceptance (decision 173). */
  issuer: Type.Optional(
    Type.Object({ user_id: Type.String(), kind: Type.Union([Type.Literal('system'), Type.Literal('tenant')]), tenant_id: Type.String() }),
  ),
  proved: Type.Optional(Proof),
});
export type InvitationData = Static<typeof INVITATION_DATA>;
export type InvitationMode = InvitationData['mode'];

/**
 * An invitation flow (src/flows/kit/flows.ts): its link is `sent`, then `accepted` (and
 * `returning` → `done` when the activation signs in to an authorization request), or
 * `replaced` by a newer invitation, `revoked`, or `cancelled` when the address changes.
 */
export const INVITATION = flowType('invitation', ['sent', 'accepted', 'replaced', 'revoked', 'cancelled', ...RETURNING], INVITATION_DATA);
export type InvitationFlow = FlowOf<typeof INVITATION>;
