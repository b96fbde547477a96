import type { Logger } from 'pino';

export interface Worker<Result> {
  /** One pass now, after the one in progress (tests call it instead of waiting for the loop). */
  runOnce(): Promise<Result>;
  /** Runs passes in the background until `stop`, the first after `delayMs`. */
  start(delayMs?: number): void;
  /** Stops the loop, waits for the pass in progress, then runs `onStop` (closing connections). */
  stop(): Promise<void>;
}

export interface WorkerOptions<Result> {
  /** The pause after a pass that found nothing to do, or failed. */
  idleMs: number;
  /** Whether a pass did something: then the next runs at once (a backlog drains without pauses). Default: never. */
  busy?: (result: Result) => boolean;
  onStop?: () => unknown;
}

/**
 * The background loop of one queue on this node (src/platform/queue/queue.ts): one pass
 * at a time, never two at once on one node (other nodes are kept apart by the queue's
 * leases). A pass that throws is logged and tried again after `idleMs`.
 */
export function createWorker<Result>(
  log: Logger,
  name: string,
  pass: () => Promise<Result>,
  options: WorkerOptions<Result>,
): Worker<Result> {
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  function runOnce(): Promise<Result> {
    const next = running.then(pass);
    running = next.catch(() => {});
    return next;
  }

  function schedule(ms: number) {
    if (stopped) return;
    timer = setTimeout(() => {
      runOnce().then(
        (result) => schedule(options.busy?.(result) ? 0 : options.idleMs),
        (error: unknown) => {
          log.error({ err: error }, `${name} pass failed`);
          schedule(options.idleMs);
        },
      );
    }, ms);
    timer.unref();
  }

  return {
    runOnce,
    start: (delayMs = 0) => schedule(delayMs),
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await options.onStop?.();
    },
  };
}
