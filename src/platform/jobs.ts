import type { Logger } from 'pino';
import { createWorker } from './queue/worker.js';

/** A periodic job of a node: run every `intervalMs` (the first time after `firstDelayMs`). */
export interface Job {
  name: string;
  intervalMs: number;
  firstDelayMs?: number;
  /** True when there is more to do at once (a full batch): the next run starts without waiting. */
  run(): Promise<boolean>;
}

export interface Jobs {
  /** Stops the jobs and waits for the runs in progress. */
  stop(): Promise<void>;
}

/**
 * Runs periodic jobs, each in the one background loop every queue uses
 * (src/platform/queue/worker.ts): a run never overlaps the same job's previous one, timers
 * do not keep the process alive, and a failed run is logged and tried again after its interval.
 */
export function startJobs(log: Logger, jobs: readonly Job[]): Jobs {
  const workers = jobs.map((job) => {
    const worker = createWorker(log, job.name, () => job.run(), { idleMs: job.intervalMs, busy: (more) => more });
    worker.start(job.firstDelayMs ?? job.intervalMs);
    return worker;
  });
  return {
    async stop() {
      await Promise.all(workers.map((worker) => worker.stop()));
    },
  };
}
