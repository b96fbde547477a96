import { isDatabaseConnection } from '../../authn/passwords/connection.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { applicationTenant, requestRecovery } from '../recovery/recovery.js';
import { type SignupInput, signupTarget, startRegistration, submitRegistration } from '../signup/registration.js';

/**
 * Auth0's database-connection endpoints (`/dbconnections/signup`, `/dbconnections/change_password`)
 * over Gatehouse's own sign-up and recovery flows (decision 388): the same tenant policies
 * (sign-up switch, profile fields, password policy), the same emails and caps, the same
 * answer whether or not the address has an account.
 */

export interface Auth0SignupInput {
  client_id: string;
  connection: string;
  email: string;
  password: string;
  username?: string;
  given_name?: string;
  family_name?: string;
  name?: string;
  phone_number?: string;
}

/** `connection` must be Auth0's database connection, the one Gatehouse's passwords answer to. */
export function assertDatabaseConnection(connection: string): void {
  if (!isDatabaseConnection(connection)) {
    throw new AppError('invalid_request', `connection ${JSON.stringify(connection)} is not a database connection of this application`, {
      field: 'connection',
    });
  }
}

/**
 * A sign-up: a registration flow of the application, submitted at once. Auth0 answers with
 * the new user; Gatehouse answers a taken address exactly as a new one (no account is
 * created, its owner is told), so `_id` is the registration's id, never a user's.
 */
export async function auth0Signup(ctx: AppContext, input: Auth0SignupInput, actor: Actor) {
  assertDatabaseConnection(input.connection);
  const target = await signupTarget(ctx, input.client_id);
  const flow = await startRegistration(ctx, target, { channel: 'api' });
  const fields: SignupInput = {
    email: input.email,
    password: input.password,
    ...(input.username !== undefined && { username: input.username }),
    ...(input.given_name !== undefined && { given_name: input.given_name }),
    ...(input.family_name !== undefined && { family_name: input.family_name }),
    ...(input.name !== undefined && { name: input.name }),
    ...(input.phone_number !== undefined && { phone: input.phone_number }),
  };
  const { registration } = await submitRegistration(ctx, flow, fields, actor);
  return {
    _id: registration.id,
    email: registration.email ?? input.email,
    email_verified: false,
    ...(fields.username && { username: fields.username }),
    ...(fields.given_name && { given_name: fields.given_name }),
    ...(fields.family_name && { family_name: fields.family_name }),
    ...(fields.name && { name: fields.name }),
  };
}

/** Forgot password: the recovery email, branded for the application's tenant; the same answer for every address. */
export async function auth0ChangePassword(
  ctx: AppContext,
  input: { client_id?: string; connection: string; email: string },
  actor: Actor,
): Promise<void> {
  assertDatabaseConnection(input.connection);
  const tenantId = await applicationTenant(ctx, input.client_id);
  await requestRecovery(ctx, { email: input.email, tenantId }, actor);
}
