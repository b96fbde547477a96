/** The messages between a node and its sandbox worker (./worker.ts, ./sandbox.ts). */

export interface RunRequest {
  type: 'run';
  id: number;
  /** The sandbox the code runs in: one per tenant (`system` for system actions), never shared. */
  sandbox: string;
  code: string;
  /** The handler the code exports (`onExecutePostLogin`, …). */
  handler: string;
  /** The `api` paths this trigger offers (`access.deny`, `accessToken.setCustomClaim`, …). */
  api: string[];
  /** `event` as JSON, `event.secrets` included. */
  event: string;
  timeoutMs: number;
}

export interface ForgetRequest {
  type: 'forget';
  sandbox: string;
}

export type SandboxOutcome = 'ok' | 'error' | 'timeout' | 'memory';

export interface RunResult {
  type: 'result';
  id: number;
  outcome: SandboxOutcome;
  /** `[path, ...args]` for each `api` call, in order. */
  commands: unknown[][];
  /** Console output, one line per call (at most 100 lines of 2,000 characters). */
  logs: string[];
  error?: string;
  durationMs: number;
}

export interface WorkerData {
  /** Bytes of linear memory each sandbox may use (a multiple of 64 KiB). */
  memoryBytes: number;
  /** The networks `fetch` may reach besides public addresses (the webhooks' setting). */
  allowedNetworks: string[];
  /** `fetch`'s own time limit. */
  fetchTimeoutMs: number;
}
