import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * What the token and sign-in benches share: the databases they run on, the closed-loop and
 * paced load, the servers' CPU and the statements they send to their database.
 */

/**
 * The databases a bench runs on, one after the other in one `npm run bench`: PGlite, and
 * PostgreSQL when BENCH_DATABASE_URL names a server (bench/server.mjs creates a database of
 * its own there and drops it). BENCH_DATABASES=pglite or =postgresql runs one of them.
 */
export function databases(): { name: 'PGlite' | 'PostgreSQL'; url: string | undefined }[] {
  const only = process.env.BENCH_DATABASES;
  const all = [
    { name: 'PGlite' as const, url: undefined },
    { name: 'PostgreSQL' as const, url: process.env.BENCH_DATABASE_URL || undefined },
  ];
  return all.filter((database) => !only || only.toLowerCase().split(',').includes(database.name.toLowerCase()));
}

export const NO_POSTGRES =
  'PostgreSQL: not measured: set BENCH_DATABASE_URL=postgres://user@host:port/postgres (a server; the bench creates and drops its own database)';

/**
 * Runs `task` with `parallel` in flight for `seconds`; returns completions per second.
 * The task gets its worker's number and the count of completions so far.
 */
export async function rate(parallel: number, seconds: number, task: (worker: number, done: number) => Promise<void>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: parallel }, async (_, worker) => {
      while (performance.now() < deadline) {
        await task(worker, done);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

/**
 * Open-loop load: `perSecond` requests on a fixed schedule for `seconds`, each on a free
 * worker (connection) of `workers`, or queued until one is free. A request's latency runs
 * from its scheduled time, so a server that falls behind is charged for the wait (no
 * coordinated omission). Returns the latencies in milliseconds, sorted.
 */
export function paced(perSecond: number, seconds: number, workers: number, task: (worker: number) => Promise<void>): Promise<number[]> {
  const total = Math.max(1, Math.floor(perSecond * seconds));
  const interval = 1000 / perSecond;
  const latencies: number[] = [];
  const free = Array.from({ length: workers }, (_, i) => i);
  const waiting: number[] = [];
  const start = performance.now();
  let next = 0;
  return new Promise((resolve, reject) => {
    const launch = (worker: number, scheduled: number) => {
      task(worker).then(() => {
        latencies.push(performance.now() - scheduled);
        const queued = waiting.shift();
        if (queued !== undefined) launch(worker, queued);
        else free.push(worker);
        if (latencies.length === total) resolve(latencies.sort((a, b) => a - b));
      }, reject);
    };
    const tick = () => {
      const now = performance.now();
      while (next < total && start + next * interval <= now) {
        const scheduled = start + next * interval;
        next++;
        const worker = free.pop();
        if (worker === undefined) waiting.push(scheduled);
        else launch(worker, scheduled);
      }
      if (next < total) setTimeout(tick, Math.max(0, start + next * interval - performance.now()));
    };
    tick();
  });
}

export const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** User + system CPU time of a process, all threads, in milliseconds. */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** A bench server (bench/server.mjs, bench/bare-provider.mjs) in its own process; resolves its port. */
export function startChild(script: URL, env: Record<string, string>) {
  const child = fork(script, [], {
    execArgv: process.env.BENCH_SERVER_ARGS?.split(' ').filter(Boolean) ?? [],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = new Promise<number>((resolve, reject) => {
    const listen = (m: { port?: number }) => {
      if (typeof m?.port !== 'number') return;
      child.off('message', listen);
      resolve(m.port);
    };
    child.on('message', listen);
    child.once('exit', (code) => reject(new Error(`${script.pathname} exited with ${code}`)));
  });
  return { child, port };
}

/** Asks a child for one answer over IPC: sends `message`, resolves the first reply holding `field`. */
export function ask<T>(child: ReturnType<typeof fork>, message: object, field: string): Promise<T> {
  return new Promise((resolve) => {
    const answer = (reply: Record<string, unknown>) => {
      if (reply?.[field] === undefined) return;
      child.off('message', answer);
      resolve(reply as T);
    };
    child.on('message', answer);
    child.send(message);
  });
}

/** The number of statements bench/server.mjs has sent to its database so far. */
export async function statementCount(child: ReturnType<typeof fork>): Promise<number> {
  return (await ask<{ statements: number }>(child, { statements: 'count' }, 'statements')).statements;
}

/** The statements one operation sends, including the batched audit write it schedules (it waits 100 ms for it). */
export async function statementsOf(
  child: ReturnType<typeof fork>,
  operation: () => Promise<unknown>,
): Promise<{ text: string; ms: number }[]> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  await ask(child, { statements: 'record' }, 'recording');
  await operation();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const { recorded } = await ask<{ recorded: { text: string; ms: number }[] }>(child, { statements: 'stop' }, 'recorded');
  return recorded;
}
