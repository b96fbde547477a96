import { Worker } from 'node:worker_threads';
import type { ForgetRequest, RunRequest, RunResult, WorkerData } from './protocol.js';

export interface SandboxCall {
  sandbox: string;
  code: string;
  handler: string;
  api: string[];
  event: unknown;
  timeoutMs: number;
}

export interface Sandbox {
  run(call: SandboxCall): Promise<Omit<RunResult, 'type' | 'id'>>;
  /** Drops a tenant's sandbox (its next call starts a new one). */
  forget(sandbox: string): void;
  close(): Promise<void>;
}

/** How long past its deadline a call may go unanswered before the worker is replaced. */
const GRACE_MS = 2_000;

/**
 * The node's side of the sandbox worker (./worker.ts): one worker thread started on first
 * use, calls matched to answers by id. Should the worker not answer a call within its
 * deadline and a grace period (a runaway the interrupt did not stop), it is terminated and
 * every call it held ends as a time-out; the next call starts a new worker.
 */
export function createSandbox(data: WorkerData): Sandbox {
  let worker: Worker | undefined;
  let nextId = 1;
  const waiting = new Map<number, { resolve: (r: RunResult) => void; timer: NodeJS.Timeout }>();

  const fail = (id: number, error: string, outcome: RunResult['outcome'] = 'error') => {
    const entry = waiting.get(id);
    if (!entry) return;
    waiting.delete(id);
    clearTimeout(entry.timer);
    entry.resolve({ type: 'result', id, outcome, commands: [], logs: [], error, durationMs: 0 });
  };

  function start(): Worker {
    if (worker) return worker;
    const started = import.meta.url.endsWith('.ts')
      ? // Run from source (tests, tsx): the worker registers tsx's loader itself, as a worker thread does not inherit it on Node 20.
        new Worker(
          `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)}); })`,
          { eval: true, workerData: data },
        )
      : new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
    started.unref();
    started.on('message', (result: RunResult) => {
      const entry = waiting.get(result.id);
      if (!entry) return;
      waiting.delete(result.id);
      clearTimeout(entry.timer);
      entry.resolve(result);
    });
    const lost = (why: string) => {
      if (worker !== started) return;
      worker = undefined;
      for (const id of [...waiting.keys()]) fail(id, why);
    };
    started.on('error', (error) => lost(`the sandbox failed: ${error.message}`));
    started.on('exit', () => lost('the sandbox stopped'));
    worker = started;
    return started;
  }

  return {
    run(call) {
      const id = nextId++;
      const current = start();
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          fail(id, 'the action ran out of time', 'timeout');
          if (worker === current) {
            worker = undefined;
            void current.terminate();
          }
        }, call.timeoutMs + GRACE_MS);
        waiting.set(id, { resolve, timer });
        const request: RunRequest = {
          type: 'run',
          id,
          sandbox: call.sandbox,
          code: call.code,
          handler: call.handler,
          api: call.api,
          event: JSON.stringify(call.event),
          timeoutMs: call.timeoutMs,
        };
        current.postMessage(request);
      });
    },
    forget(sandbox) {
      worker?.postMessage({ type: 'forget', sandbox } satisfies ForgetRequest);
    },
    async close() {
      const current = worker;
      worker = undefined;
      for (const id of [...waiting.keys()]) fail(id, 'the sandbox stopped');
      await current?.terminate();
    },
  };
}
