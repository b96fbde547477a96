import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './oidc.js';

const ENTRY = new URL('./gatehouse-process.ts', import.meta.url).pathname;

/** One `gatehouse start` in a process of its own, from source, with what it wrote kept for the assertions. */
export interface NodeProcess {
  child: ChildProcess;
  base: string;
  port: number;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until /readyz answers 200; throws if the process exits first. */
  ready(timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

export async function spawnNode(env: Record<string, string>, command: string[] = ['start']): Promise<NodeProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...command], {
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn', ...env, GATEHOUSE_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk) => {
    text += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    text += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const base = `http://127.0.0.1:${port}`;
  return {
    child,
    base,
    port,
    output: () => text,
    exited,
    async ready(timeoutMs = 120_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`gatehouse exited with ${child.exitCode}:\n${text}`);
        const ok = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        if (Date.now() > until) throw new Error(`gatehouse was not ready within ${timeoutMs} ms:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
