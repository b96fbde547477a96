import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createContext } from '../../src/main/gatehouse.js';
import { createDelivery, DELIVERY_LEASE_MS } from '../../src/ops/events/worker.js';
import { parseConfig } from '../../src/platform/config.js';
import type { AppContext } from '../../src/platform/context.js';
import { uuidv7 } from '../../src/platform/ids.js';
import { AMQP_URL, consume, databaseWithOutbox, type SharedDatabase } from './helpers.js';

const EVENTS = 1500;
const TENANTS = [uuidv7.next(), uuidv7.next(), uuidv7.next()];
const CHILD = new URL('./fixtures/deliver.ts', import.meta.url).pathname;
/** After the dead node's lease ends: the survivor's idle pause (1 s) and the time to deliver what is left, with room for a loaded machine. */
const TAKEOVER_MARGIN_MS = 5000;

/**
 * Issue 18 (decision 311): a node that dies holding delivery leases delays the other
 * nodes by one short lease, not a minute, and consumers that deduplicate by message id
 * (the event id) see every event exactly once.
 */
describe('event delivery taken over from a node that died', { timeout: 120_000 }, () => {
  let shared: SharedDatabase;
  before(async () => {
    shared = await databaseWithOutbox(EVENTS, TENANTS, 'gatehouse-takeover-');
  });
  after(() => shared.cleanup());

  it('another node delivers the rest within seconds of a SIGKILL, and every event id arrives (once after dedup)', async () => {
    const consumer = await consume(['iam.role.created']);
    const mine = () => consumer.messages.filter((m) => TENANTS.includes(m.body.payload.tenant_id));
    let child: ChildProcess | undefined;
    let ctx: AppContext | undefined;
    let survivor: ReturnType<typeof createDelivery> | undefined;
    try {
      child = spawn(process.execPath, ['--import', 'tsx', CHILD, shared.location, AMQP_URL], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = once(child, 'exit');
      await consumer.until(() => mine().length >= 100);
      child.kill('SIGKILL');
      const killedAt = Date.now();
      await exited;

      const config = parseConfig({ masterKey: randomBytes(32).toString('base64'), dataDir: '/nonexistent' }, false);
      ctx = await createContext(config, pino({ level: 'silent' }), await shared.open());
      const leases = await ctx.db
        .selectFrom('event_deliveries')
        .select('locked_until')
        .where('status', '=', 'pending')
        .where('locked_until', 'is not', null)
        .execute();
      assert.ok(leases.length > 0, 'the dead node held leases when it died');
      const leaseEnd = Math.max(...leases.map((l) => (l.locked_until as Date).getTime()));
      assert.ok(leaseEnd - killedAt <= DELIVERY_LEASE_MS, `its leases ran out ${leaseEnd - killedAt} ms after its death`);

      // Another node, on the real clock (no time travel): it waits out the short lease only.
      // (On PGlite, one process at a time: it opens the data directory after the kill.)
      const startedAt = Date.now();
      survivor = createDelivery(ctx, { amqpUrl: AMQP_URL });
      survivor.start();
      const ids = () => new Set(mine().map((m) => m.properties.messageId as string));
      await consumer.until(() => ids().size >= EVENTS);
      const doneAt = Date.now();
      console.log(
        `# takeover: all ${EVENTS} events delivered ${doneAt - killedAt} ms after the kill ` +
          `(lease ${DELIVERY_LEASE_MS} ms, leases ended ${leaseEnd - killedAt} ms after it, survivor started ${startedAt - killedAt} ms after it)`,
      );
      const bound = Math.max(leaseEnd, startedAt) + TAKEOVER_MARGIN_MS;
      assert.ok(
        doneAt <= bound,
        `delivered ${doneAt - Math.max(leaseEnd, startedAt)} ms after the lease ended; bound ${TAKEOVER_MARGIN_MS} ms`,
      );

      const received = mine();
      for (const m of received) assert.equal(m.properties.messageId, m.body.payload.id, 'the message id is the event id');
      const expected = new Set((await ctx.db.selectFrom('audit_events').select('id').execute()).map((r) => r.id));
      assert.deepEqual(ids(), expected, 'after dedup by message id: each event exactly once');
      console.log(`# duplicates (the rows the dead node had sent but not settled): ${received.length - EVENTS}`);
      // In order per tenant, counting each event at its first arrival.
      for (const tenant of TENANTS) {
        const seen = new Set<string>();
        const firsts: number[] = [];
        for (const m of received) {
          if (m.body.payload.tenant_id !== tenant || seen.has(m.body.payload.id)) continue;
          seen.add(m.body.payload.id);
          firsts.push(m.body.payload.details.n);
        }
        assert.deepEqual(
          firsts,
          [...firsts].sort((a, b) => a - b),
          'in order per tenant',
        );
      }
    } finally {
      child?.kill('SIGKILL');
      await survivor?.stop();
      await consumer.close();
      if (ctx) {
        await ctx.db.destroy();
        await ctx.passwords.close();
      }
    }
  });
});
