/**
 * Whether the profile's phone number is known to be the user's (Cognito's
 * `phone_number_verified`, Auth0's `phone_verified`): set by an administrator or an import,
 * cleared when the user changes the number. Only a verified number receives passwordless
 * sign-in codes (besides a confirmed SMS factor's).
 */
export const up = [`alter table users add column phone_verified boolean not null default false`];
