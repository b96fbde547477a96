/**
 * Multi-factor authentication (issue 4, parts 3–6): the one module the sign-in paths, the
 * hosted pages and the APIs use. Factors: TOTP, email and SMS codes, passkeys, recovery codes.
 */

export { type FactorSummary, type FactorType, listFactors } from './factors.js';
export { confirmFactor, regenerateRecoveryCodes, removeFactor, resetFactors } from './manage.js';
export { consumeMfaToken, issueMfaToken, type MfaTokenState, readMfaToken } from './mfa-tokens.js';
export { enrolOob, startChallenge } from './oob.js';
export {
  applicableMfa,
  applicableMfaOf,
  applicableMfaPolicy,
  lacksRequiredMfa,
  lacksRequiredMfaOf,
  type MfaPolicy,
  type MfaTarget,
  mfaNeed,
  mfaNeedAfter,
  provesAllowedFactor,
} from './policy.js';
export { enrolTotp } from './totp.js';
export { type SecondFactorProof, type SecondFactorResult, verifySecondFactor } from './verify.js';
export {
  passkeyAuthenticationOptions,
  passkeyRegistrationOptions,
  verifyPasskeyAuthentication,
  verifyPasskeyRegistration,
} from './webauthn.js';

/** The `acr` of a sign-in with a second factor (Auth0's and OpenID PAPE's value). */
export const ACR_MULTI_FACTOR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';

/**
 * The `amr` and `acr` claims of a sign-in (RFC 8176), for ID and access tokens alike:
 * `methods` are what was proved (`pwd`, `email`, `otp`, `sms`, `hwk`, `swk`…); with two
 * methods or more, `mfa` is added and `acr` is multi-factor. One method alone (a password,
 * or a passwordless emailed or texted code, decision 161) has no `acr`.
 */
export function mfaClaims(methods: string[]): { amr: string[]; acr?: string } {
  const amr = [...new Set(methods)];
  const multiFactor = amr.includes('mfa') || amr.length >= 2;
  if (!multiFactor) return { amr };
  return { amr: amr.includes('mfa') ? amr : [...amr, 'mfa'], acr: ACR_MULTI_FACTOR };
}

/**
 * After a passwordless first step, the factor of the same channel is no second factor: an
 * emailed sign-in code and an emailed MFA code prove the same mailbox (a texted one, the
 * same phone). Such a factor is neither offered nor accepted as the second step.
 */
export function sameChannelAsFirst(firstAmr: readonly string[], factorType: string): boolean {
  return (factorType === 'email' && firstAmr.includes('email')) || (factorType === 'sms' && firstAmr.includes('sms'));
}
