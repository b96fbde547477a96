/**
 * An application's token-exchange settings (PUT/GET /api/v1/applications/:id/token-exchange,
 * decision 431): APIs of its own tenant only, confidential applications only, another
 * tenant's application not found, every change audited; impersonation for platform
 * applications only (decision 432), never an HS256 API as a subject audience.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { acme, admin, expectError, gh, globex, twoTenantsServer } from '../../helpers/two-tenants.js';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ORDERS = 'urn:gatehouse:acme:orders';
const STOCK = 'urn:gatehouse:acme:stock';
const WIDGETS = 'urn:gatehouse:globex:widgets';
const url = (id: string) => `/api/v1/applications/${id}/token-exchange`;

describe('token exchange settings of an application', () => {
  let service: { id: string; client_id: string };
  twoTenantsServer();
  before(async () => {
    await gh.created('/api/v1/apis', acme.token, { identifier: ORDERS, name: 'Orders', permissions: [{ value: 'read:orders' }] });
    await gh.created('/api/v1/apis', acme.token, { identifier: STOCK, name: 'Stock', permissions: [{ value: 'read:stock' }] });
    await gh.created('/api/v1/apis', globex.token, { identifier: WIDGETS, name: 'Widgets', permissions: [{ value: 'read:w' }] });
    service = await gh.created('/api/v1/applications', acme.token, { name: 'Orders service', type: 'm2m', grant_types: [EXCHANGE] });
  });

  it('starts empty, is replaced by PUT, sorted and without duplicates, and audited', async () => {
    const empty = await gh.request('GET', url(service.id), { token: acme.token });
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body, { subject_audiences: [], target_audiences: [], impersonation_audiences: [] });
    const body = { subject_audiences: [ORDERS, ORDERS], target_audiences: [STOCK, ORDERS, STOCK], impersonation_audiences: [] };
    const set = await gh.request('PUT', url(service.id), { token: acme.token, body });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body, { subject_audiences: [ORDERS], target_audiences: [ORDERS, STOCK], impersonation_audiences: [] });
    assert.deepEqual((await gh.request('GET', url(service.id), { token: acme.token })).body, set.body);
    const events = await gh.auditEvents(acme.token, { action: 'iam.application.tokenExchangeModified', target: service.id });
    assert.equal(events.length, 1);
    assert.deepEqual(events[0]?.details.target_audiences, [ORDERS, STOCK]);
  });

  it('refuses impersonation_audiences on a tenant’s application, even from a system administrator; a platform application may list them', async () => {
    const before_ = (await gh.request('GET', url(service.id), { token: acme.token })).body;
    for (const token of [acme.token, admin]) {
      await expectError(
        gh.request('PUT', url(service.id), {
          token,
          body: { subject_audiences: [], target_audiences: [], impersonation_audiences: [STOCK] },
        }),
        400,
        'impersonation_platform_only',
      );
    }
    assert.deepEqual((await gh.request('GET', url(service.id), { token: acme.token })).body, before_);
    const CONSOLE = 'urn:gatehouse:system:console';
    await gh.created('/api/v1/apis', admin, { identifier: CONSOLE, name: 'Console', permissions: [{ value: 'read:console' }] });
    const desk = await gh.created<{ id: string }>('/api/v1/applications', admin, { name: 'Desk', type: 'web', grant_types: [EXCHANGE] });
    const saved = await gh.request('PUT', url(desk.id), {
      token: admin,
      body: { subject_audiences: [], target_audiences: [], impersonation_audiences: [CONSOLE] },
    });
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    assert.deepEqual(saved.body.impersonation_audiences, [CONSOLE]);
  });

  it('refuses an HS256 API as a subject audience (its tokens are never exchanged); as a target it is accepted', async () => {
    const LEGACY = 'urn:gatehouse:acme:legacy-settings';
    await gh.created('/api/v1/apis', acme.token, { identifier: LEGACY, name: 'Legacy', signing_alg: 'HS256' });
    const before_ = (await gh.request('GET', url(service.id), { token: acme.token })).body;
    const refused = await expectError(
      gh.request('PUT', url(service.id), {
        token: acme.token,
        body: { subject_audiences: [ORDERS, LEGACY], target_audiences: [STOCK], impersonation_audiences: [] },
      }),
      400,
      'hs256_subject_api',
    );
    assert.deepEqual(refused.details.identifiers, [LEGACY]);
    assert.deepEqual((await gh.request('GET', url(service.id), { token: acme.token })).body, before_);
    const target = await gh.request('PUT', url(service.id), {
      token: acme.token,
      body: { subject_audiences: [ORDERS], target_audiences: [STOCK, LEGACY], impersonation_audiences: [] },
    });
    assert.equal(target.status, 200, JSON.stringify(target.body));
    const restored = await gh.request('PUT', url(service.id), { token: acme.token, body: before_ });
    assert.equal(restored.status, 200);
  });

  it('refuses an API of another tenant, or none, as unknown_api, writing nothing', async () => {
    const before_ = (await gh.request('GET', url(service.id), { token: acme.token })).body;
    for (const identifier of [WIDGETS, 'urn:gatehouse:acme:nothing']) {
      const refused = await expectError(
        gh.request('PUT', url(service.id), {
          token: acme.token,
          body: { subject_audiences: [ORDERS], target_audiences: [identifier], impersonation_audiences: [] },
        }),
        400,
        'unknown_api',
      );
      assert.deepEqual(refused.details.identifiers, [identifier]);
    }
    // A system administrator naming globex's API for acme's application is refused alike.
    await expectError(
      gh.request('PUT', url(service.id), {
        token: admin,
        body: { subject_audiences: [WIDGETS], target_audiences: [], impersonation_audiences: [] },
      }),
      400,
      'unknown_api',
    );
    assert.deepEqual((await gh.request('GET', url(service.id), { token: acme.token })).body, before_);
  });

  it('answers 404 to another tenant’s administrator, and refuses a public client', async () => {
    await expectError(gh.request('GET', url(service.id), { token: globex.token }), 404, 'not_found');
    const body = { subject_audiences: [], target_audiences: [WIDGETS], impersonation_audiences: [] };
    await expectError(gh.request('PUT', url(service.id), { token: globex.token, body }), 404, 'not_found');
    const spa = await gh.created('/api/v1/applications', acme.token, {
      name: 'SPA',
      type: 'spa',
      redirect_uris: ['https://spa.acme.test/callback'],
    });
    const refused = { subject_audiences: [ORDERS], target_audiences: [STOCK], impersonation_audiences: [] };
    await expectError(gh.request('PUT', url(spa.id), { token: acme.token, body: refused }), 400, 'public_client');
    // And an SPA may not list the grant at all.
    await expectError(
      gh.request('POST', '/api/v1/applications', {
        token: acme.token,
        body: { name: 'SPA 2', type: 'spa', grant_types: ['authorization_code', EXCHANGE], redirect_uris: ['https://spa.acme.test/cb'] },
      }),
      400,
      'grant_not_allowed',
    );
  });

  it('takes a deleted API off the lists', async () => {
    const temp = await gh.created<{ id: string }>('/api/v1/apis', acme.token, { identifier: 'urn:gatehouse:acme:temp', name: 'Temp' });
    const body = { subject_audiences: ['urn:gatehouse:acme:temp'], target_audiences: [STOCK], impersonation_audiences: [] };
    assert.equal((await gh.request('PUT', url(service.id), { token: acme.token, body })).status, 200);
    assert.equal((await gh.request('DELETE', `/api/v1/apis/${temp.id}`, { token: acme.token })).status, 204);
    assert.deepEqual((await gh.request('GET', url(service.id), { token: acme.token })).body.subject_audiences, []);
  });
});
