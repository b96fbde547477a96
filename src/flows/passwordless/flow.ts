import { Type } from '@sinclair/typebox';
import { type FlowOf, flowType, Proof, RETURNING } from '../kit/flows.js';

export const PASSWORDLESS_METHODS = ['email_link', 'email_code', 'sms_code'] as const;
export type PasswordlessMethod = (typeof PASSWORDLESS_METHODS)[number];

/**
 * A passwordless flow (src/flows/kit/flows.ts): its link or code is `sent`, then `done`
 * when it signs in (through `returning` for an authorization request), or `cancelled`
 * when the address changes. It remembers its `method` and the key its sends are counted
 * under (`send_key`, start.ts).
 */
export const PASSWORDLESS = flowType(
  'passwordless',
  ['sent', 'cancelled', ...RETURNING],
  Type.Object({
    method: Type.Union(PASSWORDLESS_METHODS.map((m) => Type.Literal(m))),
    send_key: Type.String(),
    proved: Type.Optional(Proof),
  }),
);
export type PasswordlessFlow = FlowOf<typeof PASSWORDLESS>;
