import { Type } from '@sinclair/typebox';
import { type FlowOf, flowType, Proof, RETURNING } from '../kit/flows.js';

/**
 * Sign-up's two flows (src/flows/kit/flows.ts). A registration is `form` until it is
 * submitted, then `verify_email`, naming the verification flow its answer started.
 */
export const REGISTRATION = flowType(
  'registration',
  ['form', 'verify_email'],
  Type.Object({ verification_flow: Type.Optional(Type.String()) }),
);
export type RegistrationFlow = FlowOf<typeof REGISTRATION>;

/**
 * A verification is `sent` (or `resend`: the page that offers a new email), `verified` by
 * its link or code, or `cancelled` by a newer one; a verification that `signs_in` (the
 * browser that signed up) goes on `returning` → `done` to its authorization request.
 * A decoy for a taken address carries `notice_to`, the owner its notice went to.
 */
export const VERIFICATION = flowType(
  'verification',
  ['sent', 'resend', 'verified', 'cancelled', ...RETURNING],
  Type.Object({
    signs_in: Type.Optional(Type.Boolean()),
    notice_to: Type.Optional(Type.String()),
    proved: Type.Optional(Proof),
  }),
);
export type VerificationFlow = FlowOf<typeof VERIFICATION>;
