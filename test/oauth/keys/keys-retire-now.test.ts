/**
 * Issue 6, part 6: rotate the signing keys and retire the old one at once (a suspected
 * key compromise): every token it signed stops verifying here at once, and on every other
 * node at once too (issue 18: the change feed drops each node's key set at the commit).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import type { Clock } from '../../../src/platform/ids.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

describe('POST /api/v1/keys/rotate with retire_now', () => {
  const nowMs = Date.now();
  const clock: Clock = { now: () => new Date(nowMs) };
  let gh: TestGatehouse;
  let node2: TestGatehouse;
  let machine: { client_id: string; client_secret: string };

  before(async () => {
    gh = await startGatehouse({ clock });
    node2 = await startGatehouse({ sameDatabaseAs: gh, clock });
    const admin = await gh.adminToken();
    const api = await gh.created('/api/v1/apis', admin, {
      identifier: 'https://rs.example',
      name: 'RS',
      permissions: [{ value: 'read:x' }],
    });
    machine = await gh.created('/api/v1/applications', admin, { name: 'Worker', type: 'm2m' });
    await gh.created(`/api/v1/applications/${(machine as unknown as { id: string }).id}/grants`, admin, {
      api_id: api.id,
      permissions: ['read:x'],
    });
  });
  after(async () => {
    await node2.stop();
    await gh.stop();
  });

  const form = (url: string, fields: Record<string, string>) =>
    gh.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });
  const machineToken = async () => {
    const response = await form('/oauth/token', { grant_type: 'client_credentials', audience: 'https://rs.example', ...machine });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().access_token as string;
  };
  const jwksKids = async (on: TestGatehouse) =>
    ((await on.request('GET', '/.well-known/jwks.json')).body.keys as { kid: string }[]).map((k) => k.kid);

  it('withdraws the old keys: out of the JWKS, their tokens refused here and on another node at once', async () => {
    const oldAdmin = await gh.adminToken();
    const oldMachine = await machineToken();
    const oldKid = decodeProtectedHeader(oldAdmin).kid!;
    // The other node has read the key set and accepts the token.
    assert.equal((await node2.request('GET', '/api/v1/keys', { token: oldAdmin })).status, 200);

    const rotated = await gh.request('POST', '/api/v1/keys/rotate', { token: oldAdmin, body: { retire_now: true } });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const rs = rotated.body.rotated.find((r: { alg: string }) => r.alg === 'RS256');
    assert.equal(rs.retired, oldKid);
    assert.equal(rs.withdrawn, true);
    assert.equal(rotated.body.rotated.length, 2, 'every algorithm, as without retire_now');

    // This node: at once.
    assert.ok(!(await jwksKids(gh)).includes(oldKid), 'out of the JWKS');
    const refused = await gh.request('GET', '/api/v1/keys', { token: oldAdmin });
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error, 'invalid_token');
    const introspected = await form('/oauth/introspect', { token: oldMachine, ...machine });
    assert.deepEqual(introspected.json(), { active: false }, 'a token it signed no longer verifies at introspection');

    // New tokens are signed with the former next key, which every node already publishes.
    const newAdmin = await gh.adminToken();
    assert.notEqual(decodeProtectedHeader(newAdmin).kid, oldKid);
    assert.equal((await node2.request('GET', '/api/v1/keys', { token: newAdmin })).status, 200);
    assert.equal(decodeProtectedHeader(await machineToken()).kid, rs.current);

    // The other node: at once, its cached key set was dropped by the change feed (no clock moves).
    assert.equal((await node2.request('GET', '/api/v1/keys', { token: oldAdmin })).status, 401);
    assert.ok(!(await jwksKids(node2)).includes(oldKid));

    const rows = (await gh.request('GET', '/api/v1/keys', { token: await gh.adminToken() })).body.keys as {
      kid: string;
      withdrawn_at: string | null;
      published: boolean;
    }[];
    const row = rows.find((k) => k.kid === oldKid)!;
    assert.equal(row.published, false);
    assert.ok(row.withdrawn_at, 'withdrawn, with the time');
    const events = await gh.auditEvents(newAdmin, { action: 'iam.key.retired' });
    assert.ok(events.some((e) => e.target_id === oldKid && e.details.withdrawn === true));
  });

  it('without retire_now the retired key stays published (the overlap of an ordinary rotation)', async () => {
    const admin = await gh.adminToken();
    const kid = decodeProtectedHeader(admin).kid!;
    const rotated = await gh.request('POST', '/api/v1/keys/rotate', { token: admin, body: { alg: 'RS256' } });
    assert.equal(rotated.body.rotated[0].withdrawn, false);
    assert.ok((await jwksKids(gh)).includes(kid));
    assert.equal((await gh.request('GET', '/api/v1/keys', { token: admin })).status, 200);
  });

  it('refuses a retire_now that is not a boolean', async () => {
    const response = await gh.request('POST', '/api/v1/keys/rotate', { token: await gh.adminToken(), body: { retire_now: 'yes' } });
    assert.equal(response.status, 400);
  });
});
