import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { createContext } from '../../src/main/gatehouse.js';
import { createDelivery } from '../../src/ops/events/worker.js';
import { parseConfig } from '../../src/platform/config.js';
import type { AppContext } from '../../src/platform/context.js';
import { uuidv7 } from '../../src/platform/ids.js';
import { manualClock } from '../helpers/receiver.js';
import { AMQP_URL, consume, databaseWithOutbox, type SharedDatabase } from './helpers.js';

const EVENTS = 3000;
const TENANTS = [uuidv7.next(), uuidv7.next(), uuidv7.next()];
const CHILD = new URL('./fixtures/deliver.ts', import.meta.url).pathname;

/** Issue 6 part 1: a worker killed mid-run loses nothing; another node catches up (at least once, in order per tenant). */
describe('outbox delivery when the worker is killed', { timeout: 180_000 }, () => {
  let shared: SharedDatabase;
  before(async () => {
    shared = await databaseWithOutbox(EVENTS, TENANTS, 'gatehouse-killed-');
  });
  after(() => shared.cleanup());

  it('delivers every event after a SIGKILL mid-run, duplicates only of the rows the dead worker held', async () => {
    const consumer = await consume(['iam.role.created']);
    const mine = () => consumer.messages.filter((m) => TENANTS.includes(m.body.payload.tenant_id));
    let child: ChildProcess | undefined;
    let ctx: AppContext | undefined;
    try {
      child = spawn(process.execPath, ['--import', 'tsx', CHILD, shared.location, AMQP_URL], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = once(child, 'exit');
      // Kill it once a few rounds have reached the broker.
      await consumer.until(() => mine().length >= 200);
      child.kill('SIGKILL');
      const [code, signal] = await exited;
      assert.equal(signal, 'SIGKILL', `the worker was killed (exit code ${code})`);

      const clock = manualClock(new Date(Date.now() + 5 * 60_000)); // past the dead worker's lease
      const config = parseConfig({ masterKey: randomBytes(32).toString('base64'), dataDir: '/nonexistent' }, false);
      ctx = await createContext(config, pino({ level: 'silent' }), await shared.open(), clock);
      const pendingAfterKill = await ctx.db.selectFrom('event_deliveries').select('id').where('status', '=', 'pending').execute();
      assert.ok(pendingAfterKill.length > 0, 'killed mid-run: work was left');

      const survivor = createDelivery(ctx, { amqpUrl: AMQP_URL });
      await survivor.deliverPending();
      await survivor.stop();
      const counts = await ctx.db
        .selectFrom('event_deliveries')
        .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
        .groupBy('status')
        .execute();
      assert.deepEqual(
        counts.map((c) => [c.status, Number(c.n)]),
        [['delivered', EVENTS]],
      );

      await consumer.until(() => new Set(mine().map((m) => m.body.payload.id)).size >= EVENTS);
      const received = mine();
      const duplicates = received.length - EVENTS;
      assert.ok(duplicates <= 3 * 10, `${duplicates} duplicates: at most the rows the dead worker had claimed`);
      for (const tenant of TENANTS) {
        const firsts: number[] = [];
        const seen = new Set<string>();
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
        assert.equal(firsts.length, EVENTS / TENANTS.length);
      }
    } finally {
      child?.kill('SIGKILL');
      await consumer.close();
      if (ctx) {
        await ctx.changes.close();
        await ctx.db.destroy();
        await ctx.passwords.close();
      }
    }
  });
});
