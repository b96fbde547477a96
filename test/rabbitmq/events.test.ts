import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDelivery } from '../../src/ops/events/worker.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { manualClock, type Receiver, startReceiver } from '../helpers/receiver.js';
import { AMQP_URL, type Consumer, consume, unusedPort } from './helpers.js';

/** The names of the events a consumer got for these tenants, per tenant, in arrival order. */
const byTenant = (consumer: Consumer, tenants: string[]) =>
  Object.fromEntries(
    tenants.map((t) => [
      t,
      consumer.messages.filter((m) => m.body.payload.tenant_id === t).map((m) => m.body.payload.details.name as string),
    ]),
  );

/** Issue 6 parts 1 and 2: the outbox reaches RabbitMQ's `event-bus` exchange as OIH published it. */
describe('RabbitMQ sink', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let admin: string;

  before(async () => {
    gh = await startGatehouse({ config: { amqpUrl: AMQP_URL } });
    admin = await gh.adminToken();
  });
  after(() => gh.stop());

  it('an OIH consumer bound to iam.user.* receives iam.user.created after a user is created through the API', async () => {
    const users = await consume(['iam.user.*']);
    const everything = await consume(['#']);
    try {
      const tenant = (await gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'oih', name: 'OIH' } })).body;
      const userId = await gh.createUser(admin, { email: 'ada@oih.test', password: PASSWORD, tenant: tenant.id });
      await gh.delivery.deliverPending();

      await users.until((ms) => ms.some((m) => m.body.payload.target_id === userId));
      const message = users.messages.find((m) => m.body.payload.target_id === userId)!;
      assert.equal(message.routingKey, 'iam.user.created');
      assert.equal(message.properties.deliveryMode, 2, 'persistent');
      assert.equal(message.properties.contentType, 'application/json');
      const [audit] = await gh.auditEvents(admin, { action: 'iam.user.created', target: userId });
      assert.ok(audit);
      assert.equal(message.properties.messageId, audit.id);
      // OIH's event-bus Event.toJSON(): { headers: { name, serviceName, createdAt }, payload }.
      assert.equal(message.body.headers.name, 'iam.user.created');
      assert.equal(message.body.headers.serviceName, 'gatehouse');
      assert.equal(message.body.headers.createdAt, Date.parse(audit.created_at));
      assert.deepEqual(message.body.payload, audit, 'the payload is the audit event record');
      assert.equal(message.body.payload.tenant_id, tenant.id);
      assert.equal(message.body.payload.actor_id, (await gh.systemAdmin()).id);
      assert.ok(
        users.messages.every((m) => m.routingKey.startsWith('iam.user.')),
        'the binding decides what arrives: no iam.tenant.* or iam.membership.*',
      );

      await everything.until((ms) => ms.some((m) => m.routingKey === 'iam.tenant.created' && m.body.payload.target_id === tenant.id));
    } finally {
      await users.close();
      await everything.close();
    }
  });

  it('loses nothing while the broker is unreachable, does not hold up webhooks meanwhile, and catches up in order per tenant', async () => {
    const clock = manualClock();
    const down = await startGatehouse({
      clock,
      config: { amqpUrl: `amqp://guest:guest@127.0.0.1:${await unusedPort()}`, webhookAllowedNetworks: '127.0.0.1/32' },
    });
    const receiver: Receiver = await startReceiver();
    const consumer = await consume(['iam.role.created']);
    try {
      const tenants: TenantAdmin[] = [await down.tenantWithAdmin('north'), await down.tenantWithAdmin('south')];
      await down.created('/api/v1/webhooks', await down.adminToken(), { url: receiver.url, events: ['iam.role.created'] });
      const expected: Record<string, string[]> = {};
      const createRoles = async (round: number) => {
        for (const [i, t] of tenants.entries()) {
          for (let n = 0; n < 5; n++) {
            const name = `role-${i}-${round}-${n}`;
            await down.created('/api/v1/roles', t.token, { name });
            expected[t.tenantId] = [...(expected[t.tenantId] ?? []), name];
          }
        }
      };
      await createRoles(1);
      await down.delivery.deliverPending();
      const amqpRows = () => down.ctx.db.selectFrom('event_deliveries').selectAll().where('sink', '=', 'amqp').execute();
      const failed = (await amqpRows()).filter((d) => d.attempts > 0);
      assert.ok(failed.length > 0);
      for (const row of failed) {
        assert.equal(row.status, 'pending');
        assert.match(row.last_error ?? '', /unreachable/);
        assert.ok(!(row.last_error ?? '').includes(':guest@'), 'no broker password in the recorded error');
      }
      assert.equal(receiver.received.length, 10, 'webhooks are delivered while RabbitMQ is down');

      await createRoles(2); // more events while the broker is down
      clock.advance(61_000);
      await down.delivery.deliverPending();
      assert.ok((await amqpRows()).every((d) => d.status === 'pending'));

      // The broker is back (here: the sink now points at the real one).
      const back = createDelivery(down.ctx, { amqpUrl: AMQP_URL });
      clock.advance(61_000);
      await back.deliverPending();
      await back.stop();
      assert.ok((await amqpRows()).every((d) => d.status === 'delivered'));
      const ids = tenants.map((t) => t.tenantId);
      await consumer.until(() => Object.values(byTenant(consumer, ids)).flat().length >= 20);
      assert.deepEqual(byTenant(consumer, ids), expected, 'every event, once, in order per tenant');
    } finally {
      await consumer.close();
      await receiver.stop();
      await down.stop();
    }
  });

  it('two nodes publishing at once publish each event once, in order per tenant', async () => {
    const consumer = await consume(['iam.role.created']);
    const second = await startGatehouse({ sameDatabaseAs: gh });
    try {
      const tenants = [await gh.tenantWithAdmin('east'), await gh.tenantWithAdmin('west'), await gh.tenantWithAdmin('up')];
      const expected: Record<string, string[]> = {};
      for (let n = 0; n < 40; n++) {
        const t = tenants[n % 3]!;
        const name = `r${n}`;
        await gh.created('/api/v1/roles', t.token, { name });
        expected[t.tenantId] = [...(expected[t.tenantId] ?? []), name];
      }
      const small = { amqpBatch: { lanes: 2, perLane: 3 } };
      const [a, b] = [createDelivery(gh.ctx, small), createDelivery(second.ctx, small)];
      await Promise.all([a.deliverPending(), b.deliverPending(), a.deliverPending(), b.deliverPending()]);
      await Promise.all([a.stop(), b.stop()]);
      const ids = tenants.map((t) => t.tenantId);
      await consumer.until(() => Object.values(byTenant(consumer, ids)).flat().length >= 40);
      assert.deepEqual(byTenant(consumer, ids), expected);
    } finally {
      await second.stop();
      await consumer.close();
    }
  });
});
