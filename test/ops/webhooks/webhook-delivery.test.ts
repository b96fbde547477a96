import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { prune } from '../../../src/ops/events/fanout.js';
import { createDelivery, WEBHOOK_RETRY } from '../../../src/ops/events/worker.js';
import { verifySignature } from '../../../src/ops/webhooks/signature.js';
import { retrySpanMs } from '../../../src/platform/queue/retry.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { manualClock, type Receiver, startReceiver } from '../../helpers/receiver.js';

const HOUR = 3_600_000;

/** Issue 6 parts 1 and 3: events reach webhooks signed, in order per tenant, retried, recorded, redeliverable. */
describe('webhook delivery', () => {
  const clock = manualClock(new Date('2026-03-01T08:00:00Z'));
  let gh: TestGatehouse;
  let acme: TenantAdmin;
  let globex: TenantAdmin;
  const receivers: Receiver[] = [];
  const hooks: string[] = [];

  const seconds = () => Math.floor(clock.now().getTime() / 1000);
  const receiver = async () => {
    const r = await startReceiver();
    receivers.push(r);
    return r;
  };
  /** Creates a webhook through the API with `token` (fresh admin token by default); returns id and secret. */
  const webhook = async (token: string, body: Record<string, unknown>) => {
    const created = await gh.created('/api/v1/webhooks', token, body);
    hooks.push(created.id);
    return created as { id: string; secret: string; tenant_id: string | null };
  };
  const deliveries = (webhookId: string) =>
    gh.ctx.db.selectFrom('event_deliveries').selectAll().where('webhook_id', '=', webhookId).orderBy('seq').execute();

  before(async () => {
    gh = await startGatehouse({ clock, config: { webhookAllowedNetworks: '127.0.0.1/32' } });
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    await gh.delivery.deliverPending(); // what happened before any webhook existed
  });
  beforeEach(async () => {
    // The tests move the clock by days: fresh tokens for each.
    for (const t of [acme, globex]) t.token = await gh.tokenFor(await gh.signIn(t.adminEmail, PASSWORD), t.tenantId);
  });
  afterEach(async () => {
    // Each test's webhooks go, so the next test's receivers see only their own deliveries.
    const admin = await gh.adminToken();
    for (const id of hooks.splice(0)) await gh.request('DELETE', `/api/v1/webhooks/${id}`, { token: admin });
  });
  after(async () => {
    for (const r of receivers) await r.stop();
    await gh.stop();
  });

  it('POSTs the event record, signed over "timestamp.body" with the webhook’s secret; a receiver verifies it and rejects tampering and replays', async () => {
    const r = await receiver();
    const hook = await webhook(acme.token, { url: r.url, events: ['iam.user.*'] });
    const userId = await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD, tenant: acme.tenantId });
    const report = await gh.delivery.deliverPending();
    assert.ok(report.delivered >= 1);

    assert.ok(
      r.received.every((d) => d.json.action.startsWith('iam.user.')),
      'iam.user.* only (the membership event does not match)',
    );
    const created = r.received.filter((d) => d.json.action === 'iam.user.created');
    assert.equal(created.length, 1);
    const [delivery] = created;
    assert.ok(delivery);
    assert.equal(delivery.headers['content-type'], 'application/json');
    assert.equal(delivery.headers['gatehouse-event'], 'iam.user.created');
    const signature = delivery.headers['gatehouse-signature'] as string;
    assert.match(signature, /^t=\d+,v1=[0-9a-f]{64}$/);
    assert.equal(verifySignature(hook.secret, signature, delivery.body, seconds()), true);
    assert.equal(verifySignature(hook.secret, signature, delivery.body.replace('jane', 'john'), seconds()), false, 'tampered body');
    assert.equal(verifySignature(`${hook.secret}x`, signature, delivery.body, seconds()), false, 'wrong secret');
    assert.equal(verifySignature(hook.secret, signature, delivery.body, seconds() + 301), false, 'replayed after 5 minutes');

    const [audit] = await gh.auditEvents(acme.token, { action: 'iam.user.created', target: userId });
    assert.ok(audit);
    assert.deepEqual(delivery.json, audit, 'the body is the audit event record, as the audit API lists it');
    assert.equal(delivery.headers['gatehouse-event-id'], audit.id);

    const row = (await deliveries(hook.id)).find((d) => d.event_id === audit.id);
    assert.equal(row?.status, 'delivered');
    assert.equal(row?.last_status, 204);
    assert.equal(row?.attempts, 1);
    assert.equal(delivery.headers['gatehouse-delivery'], row?.id);

    // After a rotation, deliveries are signed with the new secret only.
    const rotated = (await gh.request('POST', `/api/v1/webhooks/${hook.id}/rotate-secret`, { token: acme.token })).body;
    await gh.createUser(acme.token, { email: 'joe@acme.test', password: PASSWORD, tenant: acme.tenantId });
    await gh.delivery.deliverPending();
    const next = r.received.at(-1)!;
    assert.equal(next.json.action, 'iam.user.created');
    assert.equal(verifySignature(rotated.secret, next.headers['gatehouse-signature'] as string, next.body, seconds()), true);
    assert.equal(verifySignature(hook.secret, next.headers['gatehouse-signature'] as string, next.body, seconds()), false);
  });

  it('delivers a tenant’s webhook only that tenant’s events; a system-wide webhook receives every tenant’s', async () => {
    const [forAcme, forGlobex, forAll] = [await receiver(), await receiver(), await receiver()];
    await webhook(acme.token, { url: forAcme.url, events: ['*'] });
    await webhook(globex.token, { url: forGlobex.url, events: ['*'] });
    await webhook(await gh.adminToken(), { url: forAll.url, events: ['iam.role.*'] });
    await gh.created('/api/v1/roles', acme.token, { name: 'acme-editors' });
    await gh.created('/api/v1/roles', globex.token, { name: 'globex-editors' });
    await gh.delivery.deliverPending();

    const tenants = (r: Receiver) => new Set(r.received.map((d) => d.json.tenant_id));
    assert.deepEqual(tenants(forAcme), new Set([acme.tenantId]));
    assert.deepEqual(tenants(forGlobex), new Set([globex.tenantId]));
    assert.deepEqual(
      forAll.received.map((d) => [d.json.action, d.json.details.name]),
      [
        ['iam.role.created', 'acme-editors'],
        ['iam.role.created', 'globex-editors'],
      ],
    );
    assert.ok(forAcme.received.some((d) => d.json.action === 'iam.role.created' && d.json.details.name === 'acme-editors'));
    assert.ok(!forAcme.received.some((d) => JSON.stringify(d.json).includes('globex-editors')));
  });

  it('retries a receiver that is down with growing waits capped at one hour, for more than 24 hours; when it is back it gets everything, in order', async () => {
    const r = await receiver();
    const hook = await webhook(acme.token, { url: r.url, events: ['iam.role.created'] });
    await r.stop();
    for (const name of ['r1', 'r2', 'r3']) await gh.created('/api/v1/roles', acme.token, { name });
    const start = clock.now().getTime();
    await gh.delivery.deliverPending();

    const waits: number[] = [];
    let [head] = await deliveries(hook.id);
    assert.equal(head?.status, 'pending');
    assert.equal(head?.attempts, 1);
    assert.match(head?.last_error ?? '', /ECONNREFUSED/);
    // Follow the retries for 25 hours of the injected clock.
    while (clock.now().getTime() - start < 25 * HOUR) {
      const previous = clock.now().getTime();
      clock.set(head!.next_attempt_at);
      waits.push(clock.now().getTime() - previous);
      await gh.delivery.deliverPending();
      [head] = await deliveries(hook.id);
      assert.equal(head?.status, 'pending', 'still retrying');
    }
    assert.deepEqual(waits.slice(0, 5), [10_000, 20_000, 40_000, 80_000, 160_000], 'exponential backoff from 10 s');
    assert.equal(Math.max(...waits), HOUR, 'capped at one hour');
    assert.ok(waits.length >= 30, `${waits.length} attempts in 25 hours`);
    const rows = await deliveries(hook.id);
    assert.deepEqual(
      rows.map((d) => d.attempts),
      [waits.length + 1, 0, 0],
      'only the first event of the lane is tried; the others wait behind it',
    );

    await r.start();
    clock.set(head!.next_attempt_at);
    await gh.delivery.deliverPending();
    assert.deepEqual(
      r.received.map((d) => d.json.details.name),
      ['r1', 'r2', 'r3'],
    );
    assert.deepEqual(
      (await deliveries(hook.id)).map((d) => d.status),
      ['delivered', 'delivered', 'delivered'],
    );
  });

  it('records failures with the HTTP status; follows no redirects; gives up after three days, and the lane goes on', async () => {
    const r = await receiver();
    const target = await receiver();
    const hook = await webhook(acme.token, { url: r.url, events: ['iam.role.created'] });
    r.answer = (_request, response) => {
      response.writeHead(307, { location: target.url });
      response.end();
    };
    await gh.created('/api/v1/roles', acme.token, { name: 'redirected' });
    await gh.delivery.deliverPending();
    assert.equal(target.received.length, 0, 'the redirect is not followed');
    let [row] = await deliveries(hook.id);
    assert.equal(row?.last_status, 307);
    assert.equal(row?.last_error, 'HTTP 307');

    r.answer = (_request, response) => {
      response.statusCode = 500;
      response.end('boom');
    };
    await gh.created('/api/v1/roles', acme.token, { name: 'after' });
    const firstAttempt = clock.now().getTime();
    while (row?.status === 'pending') {
      clock.set(row.next_attempt_at);
      await gh.delivery.deliverPending();
      [row] = await deliveries(hook.id);
    }
    assert.equal(row?.status, 'failed');
    assert.equal(row?.last_status, 500);
    assert.equal(row?.attempts, WEBHOOK_RETRY.maxAttempts);
    assert.ok(clock.now().getTime() - firstAttempt >= 72 * HOUR, 'given up after three days of retries');
    assert.equal(retrySpanMs(WEBHOOK_RETRY), clock.now().getTime() - firstAttempt);

    const [, waiting] = await deliveries(hook.id);
    assert.equal(waiting?.attempts, 1, 'the next event of the lane was tried at once');
    r.answer = (_request, response) => {
      response.statusCode = 200;
      response.end();
    };
    clock.set(waiting!.next_attempt_at);
    await gh.delivery.deliverPending();
    const rows = await deliveries(hook.id);
    assert.deepEqual(
      rows.map((d) => d.status),
      ['failed', 'delivered'],
      'the next event of the lane is delivered',
    );
    assert.equal(r.received.at(-1)?.json.details.name, 'after');
  });

  it('lists a webhook’s deliveries and redelivers a finished one as a new delivery', async () => {
    const r = await receiver();
    const hook = await webhook(acme.token, { url: r.url, events: ['iam.role.created'] });
    await gh.created('/api/v1/roles', acme.token, { name: 'listed' });
    await gh.delivery.deliverPending();
    const token = acme.token;

    const list = await gh.request('GET', `/api/v1/webhooks/${hook.id}/deliveries`, { token });
    assert.equal(list.status, 200);
    const [first] = list.body.deliveries;
    assert.equal(first.status, 'delivered');
    assert.equal(first.event, 'iam.role.created');
    assert.equal(first.last_status, 204);
    assert.equal(first.attempts, 1);
    assert.equal(first.next_attempt_at, null);
    assert.equal(first.last_error, null);
    assert.ok(first.delivered_at);

    const again = await gh.request('POST', `/api/v1/webhooks/${hook.id}/deliveries/${first.id}/redeliver`, { token });
    assert.equal(again.status, 202);
    assert.equal(again.body.status, 'pending');
    assert.equal(again.body.redelivery_of, first.id);
    assert.equal(again.body.event_id, first.event_id);
    const pending = await gh.request('POST', `/api/v1/webhooks/${hook.id}/deliveries/${again.body.id}/redeliver`, { token });
    assert.equal(pending.status, 409);
    assert.equal(pending.body.error, 'delivery_pending');

    await gh.delivery.deliverPending();
    assert.equal(r.received.length, 2);
    assert.equal(r.received[1]?.json.id, r.received[0]?.json.id, 'the same event');
    assert.equal(r.received[1]?.headers['gatehouse-delivery'], again.body.id, 'as a new delivery');
    const statuses = (await gh.request('GET', `/api/v1/webhooks/${hook.id}/deliveries?status=delivered`, { token })).body.deliveries;
    assert.deepEqual(
      statuses.map((d: { id: string }) => d.id),
      [again.body.id, first.id],
      'newest first',
    );
    const audit = await gh.auditEvents(token, { action: 'iam.webhook.redelivered', target: hook.id });
    assert.equal(audit.length, 1);

    const unknown = await gh.request('POST', `/api/v1/webhooks/${hook.id}/deliveries/${hook.id}/redeliver`, { token });
    assert.equal(unknown.status, 404);
    const other = await gh.request('POST', `/api/v1/webhooks/${hook.id}/deliveries/${first.id}/redeliver`, {
      token: globex.token,
    });
    assert.equal(other.status, 404, 'another tenant’s delivery');
  });

  it('gives up a request after the time limit', async () => {
    const r = await receiver();
    r.answer = () => {}; // never answers
    const hook = await webhook(acme.token, { url: r.url, events: ['iam.role.created'] });
    await gh.created('/api/v1/roles', acme.token, { name: 'slow' });
    const impatient = createDelivery(gh.ctx, { webhookTimeoutMs: 300 });
    await impatient.deliverPending();
    await impatient.stop();
    const [row] = await deliveries(hook.id);
    assert.equal(row?.status, 'pending');
    assert.equal(row?.last_error, 'no answer within 300 ms');
  });

  it('checks the destination again at delivery: a node whose configuration does not allow it refuses, by the address it resolves now', async () => {
    const r = await receiver();
    const byAddress = await webhook(acme.token, { url: r.url, events: ['iam.role.created'] });
    const byName = await webhook(acme.token, { url: `http://localhost:${r.port}/hooks`, events: ['iam.role.created'] });
    await gh.created('/api/v1/roles', acme.token, { name: 'blocked' });
    const strict = createDelivery(gh.ctx, { webhookAllowedNetworks: [] });
    await strict.deliverPending();
    await strict.stop();
    assert.equal(r.received.length, 0);
    assert.match((await deliveries(byAddress.id))[0]?.last_error ?? '', /destination 127\.0\.0\.1 is not allowed/);
    assert.match((await deliveries(byName.id))[0]?.last_error ?? '', /localhost resolves to an address that is not allowed/);
  });

  it('two nodes delivering at once deliver each event once, in order', async () => {
    const r = await receiver();
    await webhook(acme.token, { url: r.url, events: ['iam.role.created'] });
    await webhook(globex.token, { url: r.url, events: ['iam.role.created'] });
    const names: string[] = [];
    for (let i = 0; i < 30; i++) {
      const [tenant, name] = i % 2 ? [acme, `a${i}`] : [globex, `g${i}`];
      await gh.created('/api/v1/roles', tenant.token, { name });
      names.push(name);
    }
    const second = await startGatehouse({ sameDatabaseAs: gh, clock });
    try {
      await Promise.all([gh.delivery.deliverPending(), second.delivery.deliverPending(), gh.delivery.deliverPending()]);
    } finally {
      await second.stop();
    }
    const got = r.received.map((d) => d.json.details.name as string);
    assert.equal(got.length, names.length, 'no duplicates');
    assert.deepEqual(
      got.filter((n) => n.startsWith('a')),
      names.filter((n) => n.startsWith('a')),
    );
    assert.deepEqual(
      got.filter((n) => n.startsWith('g')),
      names.filter((n) => n.startsWith('g')),
    );
  });

  it('prunes finished deliveries and delivered outbox rows after the retention, keeping what is pending', async () => {
    await gh.delivery.deliverPending();
    const pendingBefore = await gh.ctx.db.selectFrom('event_deliveries').select('id').where('status', '=', 'pending').execute();
    clock.advance(8 * 24 * HOUR);
    await prune(gh.ctx, 7 * 24 * HOUR);
    const left = await gh.ctx.db.selectFrom('event_deliveries').select(['id', 'status']).execute();
    assert.deepEqual(left.map((d) => d.id).sort(), pendingBefore.map((d) => d.id).sort());
    const unpublished = await gh.ctx.db.selectFrom('event_outbox').select('id').where('published_at', 'is', null).execute();
    assert.equal(unpublished.length, 0);
    assert.ok((await gh.rowCount('audit_events')) > (await gh.rowCount('event_outbox')), 'the audit trail keeps every event');
  });
});
