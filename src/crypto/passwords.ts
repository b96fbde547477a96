import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** OWASP's argon2id baseline; DESIGN §2 and the issue fix these values. */
export const ARGON2_PARAMS = {
  algorithm: 2, // Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax)
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies against the stored hash, or against a dummy hash when there is none. */
  verify(storedHash: string | null | undefined, password: string): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Each worker thread runs @node-rs/argon2's synchronous functions, one at a time, on the
 * tasks in its inbox. There is one worker per core, so at most that many hashes run at
 * once (19 MiB each); a worker holds its next task already, so a busy event loop never
 * leaves a core idle between two hashes.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { hashSync, verifySync } = require(workerData.argon2);
parentPort.on('message', ({ id, op, password, hash, params }) => {
  try {
    parentPort.postMessage({ id, result: op === 'hash' ? hashSync(password, params) : verifySync(hash, password) });
  } catch (error) {
    parentPort.postMessage({ id, error: op === 'hash' ? String(error) : undefined, result: false });
  }
});
`;

/** Tasks a worker holds at once: the one it runs and the next one. */
const INBOX = 2;

type Task = { id: number; op: 'hash' | 'verify'; password: string; hash?: string; params?: typeof ARGON2_PARAMS };
type Settle = { resolve: (value: string | boolean) => void; reject: (error: Error) => void };

class HashingPool {
  private readonly workers: { worker: Worker; inFlight: number }[];
  private readonly waiting: Task[] = [];
  private readonly pending = new Map<number, Settle & { slot: { worker: Worker; inFlight: number } }>();
  private nextId = 0;

  constructor(size: number) {
    const argon2 = createRequire(import.meta.url).resolve('@node-rs/argon2');
    this.workers = Array.from({ length: size }, () => {
      const slot = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { argon2 } }), inFlight: 0 };
      slot.worker.on('message', (message: { id: number; result: string | boolean; error?: string }) => this.settle(message));
      slot.worker.unref();
      return slot;
    });
  }

  run(task: Omit<Task, 'id'>): Promise<string | boolean> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.waiting.push({ ...task, id });
      this.pending.set(id, { resolve, reject, slot: this.workers[0]! });
      this.dispatch();
    });
  }

  async close() {
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
  }

  private dispatch() {
    while (this.waiting.length > 0) {
      const slot = this.workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
      if (slot.inFlight >= INBOX) return;
      const task = this.waiting.shift()!;
      this.pending.get(task.id)!.slot = slot;
      if (slot.inFlight++ === 0) slot.worker.ref(); // work in progress keeps the process alive
      slot.worker.postMessage(task);
    }
  }

  private settle({ id, result, error }: { id: number; result: string | boolean; error?: string }) {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    if (--pending.slot.inFlight === 0) pending.slot.worker.unref();
    if (error) pending.reject(new Error(error));
    else pending.resolve(result);
    this.dispatch();
  }
}

export async function createPasswordHasher(workers = availableParallelism()): Promise<PasswordHasher> {
  const pool = new HashingPool(workers);
  const hashPassword = async (password: string) => (await pool.run({ op: 'hash', password, params: ARGON2_PARAMS })) as string;
  // An unknown user costs the same as a wrong password (DESIGN §6).
  const dummyHash = await hashPassword(`dummy-${Math.random()}`);
  return {
    hash: hashPassword,
    async verify(storedHash, password) {
      const ok = (await pool.run({ op: 'verify', hash: storedHash ?? dummyHash, password })) as boolean;
      return ok && storedHash != null;
    },
    close: () => pool.close(),
  };
}
