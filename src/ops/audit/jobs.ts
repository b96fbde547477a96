import type { AppContext } from '../../platform/context.js';
import { SEAL_BATCH, sealBatch } from './chain.js';
import { pruneAuditTrail } from './prune.js';

/** Events are chained within about this long of their commit: the window in which a change is undetectable. */
export const SEAL_INTERVAL_MS = 1000;
/** Retention runs a minute after start, then hourly. */
const PRUNE_FIRST_MS = 60_000;
const PRUNE_INTERVAL_MS = 3_600_000;

export interface AuditJobs {
  /** Stops the loops and waits for a run in progress. */
  stop(): Promise<void>;
}

interface Loop {
  name: string;
  intervalMs: number;
  firstDelayMs?: number;
  /** True when there is more to do at once (a full batch). */
  run(): Promise<boolean>;
}

/**
 * The audit trail's background work on every node: the sealer (one node at a time holds its
 * lock; the others find it taken and wait for the next tick) and retention (nodes racing on a
 * chain: one commits, the others find the anchor moved). Timers do not keep the process alive.
 */
export function startAuditJobs(ctx: AppContext, loops: Loop[] = defaultLoops(ctx)): AuditJobs {
  let stopped = false;
  const running = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();

  const schedule = (loop: Loop, delay: number) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run = loop.run().then(
        (more) => schedule(loop, more ? 0 : loop.intervalMs),
        (error) => {
          ctx.log.error({ err: error, job: loop.name }, 'Audit job failed');
          schedule(loop, loop.intervalMs);
        },
      );
      running.add(run);
      void run.finally(() => running.delete(run));
    }, delay);
    timer.unref();
    timers.add(timer);
  };
  for (const loop of loops) schedule(loop, loop.firstDelayMs ?? loop.intervalMs);

  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(running);
    },
  };
}

function defaultLoops(ctx: AppContext): Loop[] {
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
