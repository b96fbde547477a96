import type { Logger } from 'pino';

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
 * Runs jobs on timers that do not keep the process alive. A run never overlaps the same
 * job's previous one; a failed run is logged and the job runs again after its interval.
 */
export function startJobs(log: Logger, jobs: readonly Job[]): Jobs {
  let stopped = false;
  const running = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();

  const schedule = (job: Job, delay: number) => {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const run = job.run().then(
        (more) => schedule(job, more ? 0 : job.intervalMs),
        (error) => {
          log.error({ err: error, job: job.name }, 'Background job failed');
          schedule(job, job.intervalMs);
        },
      );
      running.add(run);
      void run.finally(() => running.delete(run));
    }, delay);
    timer.unref();
    timers.add(timer);
  };
  for (const job of jobs) schedule(job, job.firstDelayMs ?? job.intervalMs);

  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(running);
    },
  };
}
