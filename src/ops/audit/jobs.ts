import type { AppContext } from '../../platform/context.js';
import type { Job } from '../../platform/jobs.js';
import { SEAL_BATCH, sealBatch } from './chain.js';
import { pruneAuditTrail } from './prune.js';

/** Events are chained within about this long of their commit: the window in which a change is undetectable. */
export const SEAL_INTERVAL_MS = 1000;
/** Retention runs a minute after start, then hourly. */
const PRUNE_FIRST_MS = 60_000;
const PRUNE_INTERVAL_MS = 3_600_000;

/**
 * The audit trail's background work on every node (run by src/main/jobs.ts): the sealer
 * (one node at a time holds its lock; the others find it taken and wait for the next tick)
 * and retention (nodes racing on a chain: one commits, the others find the anchor moved).
 */
export function auditJobs(ctx: AppContext): Job[] {
  return [
    { name: 'audit-sealer', intervalMs: SEAL_INTERVAL_MS, run: async () => (await sealBatch(ctx)) === SEAL_BATCH },
    {
      name: 'audit-retention',
      intervalMs: PRUNE_INTERVAL_MS,
      firstDelayMs: PRUNE_FIRST_MS,
      run: async () => {
        for (const chain of await pruneAuditTrail(ctx)) {
          if (chain.events > 0)
            ctx.log.info({ tenant: chain.tenant_id, events: chain.events, files: chain.files }, 'Audit events archived and pruned');
        }
        return false;
      },
    },
  ];
}
