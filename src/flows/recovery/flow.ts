import { Type } from '@sinclair/typebox';
import { type FlowOf, flowType, Proof, RETURNING } from '../kit/flows.js';

/**
 * A recovery flow (src/flows/kit/flows.ts): a reset link is `sent`, then `done` when the
 * new password is set (and `returning` → `done` to an authorization request it signs in
 * to), or `cancelled` by a newer link. The hosted sign-in's forced password change
 * (src/flows/forced-change) is a recovery flow too: `forced_change` → `done`, bound to the
 * `interaction` whose password step proved the old password.
 */
export const RECOVERY = flowType(
  'recovery',
  ['sent', 'forced_change', 'cancelled', ...RETURNING],
  Type.Object({ interaction: Type.Optional(Type.String()), proved: Type.Optional(Proof) }),
);
export type RecoveryFlow = FlowOf<typeof RECOVERY>;
