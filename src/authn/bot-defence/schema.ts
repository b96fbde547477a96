import { Type } from '@sinclair/typebox';

/** The field every guarded API step takes its solution in (docs/api.md#bot-defence). */
export const CaptchaField = Type.Optional(
  Type.String({
    maxLength: 8192,
    description: 'Bot defence: the solution of the challenge a 428 challenge_required gave (ALTCHA payload or a provider token)',
  }),
);
