/**
 * Auth0's name of its built-in username-and-password ("database") connection. Wherever code
 * written for Auth0 passes `connection` or `realm` (the authorization request, the
 * password-realm grant, /dbconnections, /passwordless), this name means Gatehouse's own
 * password sign-in (decision 387); no federated connection may take it (src/ops/connections/rules.ts).
 */
export const DATABASE_CONNECTION = 'Username-Password-Authentication';

export const isDatabaseConnection = (name: unknown): boolean =>
  typeof name === 'string' && name.toLowerCase() === DATABASE_CONNECTION.toLowerCase();
