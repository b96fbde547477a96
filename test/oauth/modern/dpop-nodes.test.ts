/**
 * Issue 17.3, DPoP on several nodes (decision 416): two Gatehouse nodes on one database
 * (PGlite here; PostgreSQL with GATEHOUSE_TEST_DATABASE_URL), each with its own engine and
 * caches. A server nonce one node gave is good at the other (the nonce secret comes from
 * the master key), and a proof used at one node is refused at the other, also when
 * requests race with it on both (the replay store is one statement in the database).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { ISSUER, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

const API = 'https://nodes.modern.test/';
const HTU = `${ISSUER}/oauth/token`;

describe('DPoP across two nodes', () => {
  let a: TestGatehouse;
  let b: TestGatehouse;
  let basic: string;
  let key: { privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']; jwk: JWK };

  before(async () => {
    a = await startGatehouse();
    b = await startGatehouse({ sameDatabaseAs: a });
    const admin = await a.adminToken();
    const api = await a.created<{ id: string }>('/api/v1/apis', admin, {
      identifier: API,
      name: 'Nodes',
      permissions: [{ value: 'read' }],
    });
    const m2m = await a.created<{ id: string; client_id: string; client_secret: string }>('/api/v1/applications', admin, {
      name: 'Bound worker',
      type: 'm2m',
      dpop_bound_access_tokens: true,
    });
    await a.created(`/api/v1/applications/${m2m.id}/grants`, admin, { api_id: api.id, permissions: ['read'] });
    basic = `Basic ${Buffer.from(`${m2m.client_id}:${m2m.client_secret}`).toString('base64')}`;
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = { privateKey: pair.privateKey, jwk: await exportJWK(pair.publicKey) };
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  const proof = (nonce?: string) =>
    new SignJWT({ htm: 'POST', htu: HTU, jti: crypto.randomUUID(), ...(nonce && { nonce }) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
      .setIssuedAt()
      .sign(key.privateKey);
  const token = async (node: TestGatehouse, dpop: string) => {
    const answer = await node.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { host: new URL(ISSUER).host, 'content-type': 'application/x-www-form-urlencoded', authorization: basic, dpop },
      payload: new URLSearchParams({ grant_type: 'client_credentials', audience: API }).toString(),
    });
    return {
      status: answer.statusCode,
      body: answer.json() as Record<string, string>,
      nonce: answer.headers['dpop-nonce'] as string | undefined,
    };
  };

  it('a nonce from one node is good at the other; a proof used at one is refused at the other', async () => {
    const first = await token(a, await proof());
    assert.equal(first.status, 400);
    assert.equal(first.body.error, 'use_dpop_nonce');
    assert.ok(first.nonce);
    const withNonce = await proof(first.nonce);
    const atB = await token(b, withNonce);
    assert.equal(atB.status, 200, JSON.stringify(atB.body));
    assert.equal(atB.body.token_type, 'DPoP');
    const replayedAtA = await token(a, withNonce);
    assert.equal(replayedAtA.status, 400);
    assert.equal(replayedAtA.body.error, 'invalid_grant');
  });

  it('of requests racing with one proof on both nodes, exactly one gets a token', async () => {
    const nonce = (await token(a, await proof())).nonce as string;
    const racing = await proof(nonce);
    const answers = await Promise.all([a, b, a, b, a, b].map((node) => token(node, racing)));
    assert.deepEqual(
      answers.map((answer) => answer.status).sort(),
      [200, 400, 400, 400, 400, 400],
      JSON.stringify(answers.map((answer) => answer.body)),
    );
  });
});
