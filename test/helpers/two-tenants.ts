import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startGatehouse, type TenantAdmin, type TestGatehouse } from './gatehouse.js';

// The server of an admin API test file, set by the hooks twoTenantsServer() registers
// (an import of a `let` is live: a test reads the value its file's `before` set).
export let gh: TestGatehouse;
/** The first system administrator's access token for the system tenant. */
export let admin: string;
export let adminId: string;
export let systemTenantId: string;
export let acme: TenantAdmin;
export let globex: TenantAdmin;

/** Registers, in the calling describe, the hooks that start a server with the tenants acme and globex and stop it. */
export function twoTenantsServer(): void {
  before(async () => {
    gh = await startGatehouse();
    ({ token: admin, id: adminId, systemTenantId } = await gh.systemAdmin());
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
  });
  after(() => gh.stop());
}

/** Asserts that the API answered `status` with the error code `code`; returns the body. */
export async function expectError(response: Promise<{ status: number; body: any }>, status: number, code: string) {
  const { status: actual, body } = await response;
  assert.equal(actual, status, `expected ${status} ${code}, got ${actual} ${JSON.stringify(body)}`);
  assert.equal(body.error, code);
  return body;
}
