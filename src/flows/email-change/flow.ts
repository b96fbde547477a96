import { Type } from '@sinclair/typebox';
import { type FlowOf, flowType } from '../kit/flows.js';

/**
 * An email change (src/flows/kit/flows.ts; decision 165): its link and code are `sent` to
 * the new address, `confirmed` by either, then `done` when the account takes the address,
 * or `failed` (another account took it meanwhile); `cancelled` by a newer change. The flow's
 * `email` is the new address, `old_email` the one it replaces.
 */
export const EMAIL_CHANGE = flowType(
  'email_change',
  ['sent', 'confirmed', 'done', 'failed', 'cancelled'],
  Type.Object({ old_email: Type.String() }),
);
export type EmailChangeFlow = FlowOf<typeof EMAIL_CHANGE>;
