import assert from 'node:assert/strict';
import type { TestGatehouse } from '../../helpers/gatehouse.js';
import { postToken } from '../../helpers/token-endpoint.js';

/** A machine application of the token's tenant, granted the admin API with `permissions`, and its token for `{issuer}/api/v2/`. */
export async function machineWithAdminGrant(gh: TestGatehouse, adminToken: string, permissions: string[], name = 'Management script') {
  const app = await gh.created<{ id: string; client_id: string; client_secret: string }>('/api/v1/applications', adminToken, {
    name,
    type: 'm2m',
  });
  const grant = await gh.request('PUT', `/api/v1/applications/${app.id}/admin-grant`, { token: adminToken, body: { permissions } });
  assert.equal(grant.status, 201, JSON.stringify(grant.body));
  return { ...app, token: await machineToken(gh, app.client_id, app.client_secret) };
}

export async function machineToken(
  gh: TestGatehouse,
  clientId: string,
  clientSecret: string,
  audience = `${gh.ctx.config.issuer}/api/v2/`,
) {
  const response = await postToken(gh, { grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, audience });
  assert.equal(response.statusCode, 200, response.body);
  return (response.json() as { access_token: string }).access_token;
}

/** Asserts Auth0's error shape and status; returns the body. */
export async function expectAuth0Error(response: Promise<{ status: number; body: any }>, status: number, errorCode?: string) {
  const { status: actual, body } = await response;
  assert.equal(actual, status, `expected ${status}, got ${actual} ${JSON.stringify(body)}`);
  assert.equal(body.statusCode, status);
  assert.equal(typeof body.error, 'string');
  assert.equal(typeof body.message, 'string');
  assert.equal(typeof body.errorCode, 'string');
  if (errorCode) assert.equal(body.errorCode, errorCode, JSON.stringify(body));
  return body;
}

/** POST /api/v2/jobs/users-imports as Auth0's clients send it: multipart, `users` a JSON array file. */
export async function importJob(gh: TestGatehouse, token: string, users: unknown[], fields: Record<string, string> = { upsert: 'true' }) {
  const form = new FormData();
  form.append('users', new File([JSON.stringify(users)], 'users.json', { type: 'application/json' }));
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const request = new Request('http://localhost/', { method: 'POST', body: form });
  const response = await gh.app.inject({
    method: 'POST',
    url: '/api/v2/jobs/users-imports',
    headers: { authorization: `Bearer ${token}`, 'content-type': request.headers.get('content-type')! },
    payload: Buffer.from(await request.arrayBuffer()),
  });
  return { status: response.statusCode, body: response.json() };
}
