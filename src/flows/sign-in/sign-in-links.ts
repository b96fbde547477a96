import { tenantPolicies } from '../../directory/policies/policies.js';
import type { Interaction } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { applicationSignupEnabled } from '../signup/registration.js';

/** The ways out of the sign-in form, each shown only when the application's tenant allows it. */
export interface SignInLinks {
  signup?: string;
  recovery: string;
  passwordless?: string;
}

/**
 * Links from the hosted sign-in page of an authorization request to its self-service
 * flows. Each flow remembers the interaction and returns to it, signed in, when done.
 */
export async function signInLinks(ctx: AppContext, it: Interaction): Promise<SignInLinks> {
  const policies = await tenantPolicies(ctx, it.client.tenantId);
  const signup = await applicationSignupEnabled(ctx, it.client.clientId);
  const from = `interaction=${encodeURIComponent(it.uid)}`;
  return {
    ...(policies.signup.enabled && signup && { signup: `/signup?${from}` }),
    recovery: `/recovery?${from}`,
    ...(policies.passwordless.methods.length > 0 && { passwordless: `/passwordless?${from}` }),
  };
}
