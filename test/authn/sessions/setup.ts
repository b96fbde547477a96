import { after, before } from 'node:test';
import { PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

// The server of the session tests, set by the hooks sessionServer() registers
// (an import of a `let` is live: a test reads the value its file's `before` set).
export let gh: TestGatehouse;
/** The first system administrator's access token for the system tenant. */
export let admin: string;
/** The tenant acme. */
export let tenantId: string;

/** Registers, in the calling describe, the hooks that start the server with the tenant acme and stop it. */
export function sessionServer(): void {
  before(async () => {
    gh = await startGatehouse();
    ({ tenantId } = await gh.tenantWithAdmin('acme'));
    admin = await gh.adminToken();
  });
  after(() => gh.stop());
}

/** A user homed in acme with a password; returns its id. */
export const newUser = (email: string, extra: Record<string, unknown> = {}) =>
  gh.createUser(admin, { email, password: PASSWORD, tenant: tenantId, ...extra });

/** Sign-in through app.inject, so the raw body and the parsed cookies are both at hand. */
export async function rawSignIn(server: TestGatehouse, body: Record<string, unknown>) {
  const response = await server.app.inject({ method: 'POST', url: '/api/v1/session', payload: body });
  return { status: response.statusCode, text: response.body, cookies: response.cookies, headers: response.headers };
}
