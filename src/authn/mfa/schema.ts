import { Type } from '@sinclair/typebox';
import { Nullable, Timestamp } from '../../platform/http/schemas.js';
import type { FactorSummary } from './factors.js';

/** Request and response shapes of the MFA routes (they also make the OpenAPI document). */
export const Factor = Type.Object(
  {
    id: Type.String({ description: 'Factor id; `recovery-code` stands for the unspent recovery codes' }),
    type: Type.Union(['otp', 'email', 'sms', 'webauthn', 'recovery-code'].map((t) => Type.Literal(t))),
    name: Nullable(Type.String()),
    confirmed: Type.Boolean(),
    created_at: Timestamp,
    last_used_at: Nullable(Timestamp),
    destination: Type.Optional(Type.String({ description: 'Masked email address or phone number' })),
  },
  { title: 'MfaFactor' },
);

export const toFactor = (f: FactorSummary) => ({
  ...f,
  created_at: f.created_at.toISOString(),
  last_used_at: f.last_used_at?.toISOString() ?? null,
});

export const FactorList = Type.Object({ factors: Type.Array(Factor) });

export const FactorParams = Type.Object({ factorId: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
export const UserFactorParams = Type.Object(
  { id: Type.String({ format: 'uuid' }), factorId: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

export const Code = Type.String({ minLength: 1, maxLength: 64 });
/** Opaque tokens (`ghmfa_…`, `ghoob_…`): bounded, never parsed beyond their prefix. */
export const OpaqueToken = Type.String({ minLength: 1, maxLength: 200 });

export const NameBody = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false },
);

export const TotpEnrolment = Type.Object({
  id: Type.String(),
  secret: Type.String({ description: 'Base32 seed, for typing into an authenticator app; shown once' }),
  otpauth_uri: Type.String(),
  qr_code: Type.String({ description: 'The otpauth URI as a PNG data URL' }),
});

export const SmsBody = Type.Object(
  { phone_number: Type.String({ minLength: 1, maxLength: 32, description: 'E.164, e.g. +14155550100' }) },
  { additionalProperties: false },
);

export const OobEnrolment = Type.Object({
  id: Type.String(),
  oob_code: Type.String({ description: 'Binds the code sent to the confirmation' }),
});

export const ConfirmBody = Type.Object(
  { otp: Type.Optional(Code), oob_code: Type.Optional(OpaqueToken), binding_code: Type.Optional(Code) },
  { additionalProperties: false },
);

export const RecoveryCodes = Type.Object({
  recovery_codes: Type.Array(Type.String(), { description: 'Shown once; each works once' }),
});

export const Confirmed = Type.Object({
  factor: Factor,
  recovery_codes: Type.Optional(Type.Array(Type.String(), { description: 'With the first confirmed factor only; shown once' })),
});

/** WebAuthn's JSON shapes are the browser's; @simplewebauthn/server checks them. */
export const PasskeyBody = Type.Object(
  {
    response: Type.Object({}, { additionalProperties: true, maxProperties: 20 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);
export const PasskeyOptions = Type.Object({}, { additionalProperties: true, description: 'PublicKeyCredentialCreationOptionsJSON' });

export const SessionMfaBody = Type.Object(
  {
    mfa_token: OpaqueToken,
    otp: Type.Optional(Code),
    oob_code: Type.Optional(OpaqueToken),
    binding_code: Type.Optional(Code),
    recovery_code: Type.Optional(Code),
  },
  { additionalProperties: false },
);

export const MfaRequired = Type.Object(
  {
    error: Type.Literal('mfa_required'),
    message: Type.String(),
    mfa_token: Type.String({ description: 'For POST /api/v1/session/mfa (and /mfa/associate when enrolment is required); 5 minutes' }),
    details: Type.Optional(Type.Object({ enrolment_required: Type.Boolean() })),
  },
  { title: 'MfaRequired' },
);
