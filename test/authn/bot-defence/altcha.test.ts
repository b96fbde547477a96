import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { solveAltcha } from './helpers.js';

/**
 * Issue 16.5: the ALTCHA challenge on the sign-up API twin. A client without a solution
 * gets 428 challenge_required with the challenge; a solution computed by altcha-lib's
 * solver passes once; the same solution again (on this node or another) is refused.
 */
describe('bot defence: ALTCHA on POST /api/v1/flows/registration/:id', () => {
  let gh: TestGatehouse;
  let second: TestGatehouse;
  let acme: TenantAdmin;
  let other: TenantAdmin;
  let clientId: string;
  let otherClientId: string;

  const enable = async (tenant: TenantAdmin) => {
    const admin = await gh.adminToken();
    const patched = await gh.request('PATCH', `/api/v1/tenants/${tenant.tenantId}/policies`, {
      token: admin,
      body: { signup: { enabled: true }, bot_defence: { mode: 'always' } },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    return (
      await gh.created('/api/v1/applications', tenant.token, { name: 'Portal', type: 'web', redirect_uris: ['http://localhost:4000/cb'] })
    ).client_id as string;
  };

  before(async () => {
    gh = await startGatehouse();
    second = await startGatehouse({ sameDatabaseAs: gh });
    acme = await gh.tenantWithAdmin('acme');
    other = await gh.tenantWithAdmin('other');
    clientId = await enable(acme);
    otherClientId = await enable(other);
  });
  after(async () => {
    await second?.stop();
    await gh?.stop();
  });

  const start = async (node: TestGatehouse, client = clientId) => {
    const started = await node.request('POST', '/api/v1/flows/registration', { body: { client_id: client } });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    return started.body.id as string;
  };
  const submit = (node: TestGatehouse, flowId: string, email: string, captcha?: string) =>
    node.request('POST', `/api/v1/flows/registration/${flowId}`, {
      body: { email, password: PASSWORD, ...(captcha !== undefined && { captcha }) },
    });

  it('answers 428 challenge_required with an ALTCHA challenge when no solution is sent, and creates nobody', async () => {
    const refused = await submit(gh, await start(gh), 'nobody@acme.test');
    assert.equal(refused.status, 428, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'challenge_required');
    assert.equal(refused.body.details.field, 'captcha');
    assert.equal(refused.body.details.reason, 'always');
    const offer = refused.body.details.challenge;
    assert.equal(offer.provider, 'altcha');
    assert.equal(offer.challenge.parameters.algorithm, 'PBKDF2/SHA-256');
    assert.ok(offer.challenge.signature, 'signed by the server');
    assert.ok(offer.challenge.parameters.expiresAt > Date.now() / 1000, 'expires in the future');
    assert.equal(await gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'nobody@acme.test').executeTakeFirst(), undefined);
  });

  it('accepts a solution computed by altcha-lib, once; the replay is refused on this node and on another', async () => {
    const flowId = await start(gh);
    const refused = await submit(gh, flowId, 'ada@acme.test');
    const captcha = await solveAltcha(refused.body.details.challenge);
    const accepted = await submit(gh, flowId, 'ada@acme.test', captcha);
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    assert.ok(await gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'ada@acme.test').executeTakeFirst());

    const again = await submit(gh, await start(gh), 'eve@acme.test', captcha);
    assert.equal(again.status, 428);
    assert.equal(again.body.error, 'challenge_failed');
    assert.equal(again.body.details.reason, 'replayed');
    assert.equal(again.body.details.challenge.provider, 'altcha', 'a fresh challenge comes with the refusal');
    const elsewhere = await submit(second, await start(second), 'eve@acme.test', captcha);
    assert.equal(elsewhere.status, 428, 'the other node refuses it too');
    assert.equal(elsewhere.body.details.reason, 'replayed');
  });

  it('refuses a solution made for another tenant, a tampered one, and garbage', async () => {
    const otherFlow = await start(gh, otherClientId);
    const otherOffer = (await submit(gh, otherFlow, 'x@other.test')).body.details.challenge;
    const foreign = await submit(gh, await start(gh), 'mallory@acme.test', await solveAltcha(otherOffer));
    assert.equal(foreign.status, 428);
    assert.equal(foreign.body.details.reason, 'wrong_scope');

    const offer = (await submit(gh, await start(gh), 'mallory@acme.test')).body.details.challenge;
    const payload = JSON.parse(Buffer.from(await solveAltcha(offer), 'base64').toString());
    payload.challenge.parameters.cost = 1; // cheaper work, same signature
    const tampered = await submit(gh, await start(gh), 'mallory@acme.test', Buffer.from(JSON.stringify(payload)).toString('base64'));
    assert.equal(tampered.body.details.reason, 'invalid');

    const wrong = JSON.parse(Buffer.from(await solveAltcha(offer), 'base64').toString());
    wrong.solution.counter += 1;
    const wrongWork = await submit(gh, await start(gh), 'mallory@acme.test', Buffer.from(JSON.stringify(wrong)).toString('base64'));
    assert.equal(wrongWork.body.details.reason, 'invalid');

    const garbage = await submit(gh, await start(gh), 'mallory@acme.test', 'not-a-solution');
    assert.equal(garbage.status, 428);
    assert.equal(garbage.body.details.reason, 'malformed');
    assert.equal(await gh.ctx.db.selectFrom('users').select('id').where('email', '=', 'mallory@acme.test').executeTakeFirst(), undefined);
  });
});
