import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { deliveryQueue } from '../../../src/ops/events/claim.js';
import { fanOut } from '../../../src/ops/events/fanout.js';
import { AMQP_RETRY } from '../../../src/ops/events/worker.js';
import { recordAudit, SYSTEM_ACTOR } from '../../../src/platform/audit/record.js';
import { systemClock } from '../../../src/platform/ids.js';
import { keepLeased } from '../../../src/platform/queue/lease.js';
import { claim } from '../../../src/platform/queue/queue.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

const LEASE_MS = 900;

/** Decision 311: a short lease renewed while its holder works, and taken over once the holder stops renewing. */
describe('queue leases with a heartbeat', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.stop());

  it('a holder that keeps renewing keeps its rows; once it stops (it died), another node takes them within one lease', async () => {
    const queue = deliveryQueue('amqp', { lanes: 10, perLane: 100, leaseMs: LEASE_MS }, AMQP_RETRY);
    for (let n = 0; n < 5; n++) await recordAudit(gh.ctx.db, gh.ctx, { action: 'iam.role.created', actor: SYSTEM_ACTOR, details: { n } });
    while ((await fanOut(gh.ctx, { amqp: true })) > 0);
    const first = await claim(gh.ctx.db, queue, systemClock.now());
    assert.ok(first.length >= 5);
    const heartbeat = keepLeased(gh.ctx.db, queue, systemClock, first, gh.ctx.log);
    await sleep(LEASE_MS * 3);
    assert.deepEqual(await claim(gh.ctx.db, queue, systemClock.now()), [], 'renewed: three leases later the rows are still held');
    await heartbeat.stop();

    const stopped = performance.now();
    let second = await claim(gh.ctx.db, queue, systemClock.now());
    while (second.length === 0 && performance.now() - stopped < LEASE_MS * 3) {
      await sleep(25);
      second = await claim(gh.ctx.db, queue, systemClock.now());
    }
    assert.deepEqual(second.map((r) => r.id).sort(), first.map((r) => r.id).sort(), 'taken over');
    assert.ok(performance.now() - stopped <= LEASE_MS + 400, 'within one lease of the last renewal');

    // The first holder, back from a pause, renews nothing: the rows are the second holder's.
    const late = keepLeased(gh.ctx.db, queue, systemClock, first, gh.ctx.log);
    await sleep(LEASE_MS);
    await late.stop();
    const leases = await gh.ctx.db
      .selectFrom('event_deliveries')
      .select('locked_until')
      .where(
        'id',
        'in',
        second.map((r) => r.id),
      )
      .execute();
    for (const row of leases) assert.equal(row.locked_until?.getTime(), second[0]!.lockedUntil.getTime());
  });
});
