import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { postToken } from '../../helpers/token-endpoint.js';

/** Issue 3, part 6: the OAuth engine signs with the new key at once; old tokens keep verifying. */
describe('key rotation and the OAuth engine', () => {
  let gh: TestGatehouse;
  let admin: string;
  let machine: { id: string; client_id: string; client_secret: string };

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    for (const [identifier, alg] of [
      ['https://rs.example', 'RS256'],
      ['https://es.example', 'ES256'],
    ] as const) {
      const api = await gh.created('/api/v1/apis', admin, { identifier, name: alg, signing_alg: alg, permissions: [{ value: 'read:x' }] });
      machine ??= await gh.created('/api/v1/applications', admin, { name: 'Worker', type: 'm2m' });
      await gh.created(`/api/v1/applications/${machine.id}/grants`, admin, { api_id: api.id, permissions: ['read:x'] });
    }
  });
  after(() => gh.stop());

  async function token(audience: string) {
    const response = await postToken(gh, {
      grant_type: 'client_credentials',
      audience,
      client_id: machine.client_id,
      client_secret: machine.client_secret,
    });
    assert.equal(response.statusCode, 200, response.body);
    return response.json().access_token as string;
  }

  const jwks = async () => createLocalJWKSet((await gh.request('GET', '/.well-known/jwks.json')).body);

  it('signs with the new current key right after a rotation, and the old tokens still verify', async () => {
    const before = { rs: await token('https://rs.example'), es: await token('https://es.example') };
    const rotated = await gh.request('POST', '/api/v1/keys/rotate', { token: admin, body: {} });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const byAlg = Object.fromEntries(rotated.body.rotated.map((r: { alg: string; current: string; retired: string }) => [r.alg, r]));

    const afterRotation = { rs: await token('https://rs.example'), es: await token('https://es.example') };
    assert.equal(decodeProtectedHeader(before.rs).kid, byAlg.RS256.retired);
    assert.equal(decodeProtectedHeader(afterRotation.rs).kid, byAlg.RS256.current);
    assert.equal(decodeProtectedHeader(before.es).kid, byAlg.ES256.retired);
    assert.equal(decodeProtectedHeader(afterRotation.es).kid, byAlg.ES256.current);
    assert.equal(decodeProtectedHeader(afterRotation.es).alg, 'ES256');

    const keys = await jwks();
    for (const [audience, value] of [
      ['https://rs.example', before.rs],
      ['https://rs.example', afterRotation.rs],
      ['https://es.example', before.es],
      ['https://es.example', afterRotation.es],
    ] as const) {
      const { payload } = await jwtVerify(value, keys, { issuer: gh.ctx.config.issuer, audience });
      assert.equal(payload.client_id, machine.client_id);
    }
  });
});
