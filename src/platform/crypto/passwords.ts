import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError } from '../errors.js';
import { isArgon2, parseHash, verifyLegacyHash } from './legacy-hashes.js';

/** OWASP's argon2id baseline, fixed by issue 2 (docs/architecture.md#passwords); the benchmarks measure sign-ins against it (docs/operations.md#benchmarks). */
export const ARGON2_PARAMS = {
  algorithm: 2, // Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax)
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

/** What our own hashes start with; any other stored hash is upgraded after a successful sign-in (decision 140). */
const CURRENT_PREFIX = `$argon2id$v=19$m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism}$`;

export const needsRehash = (hash: string): boolean => !hash.startsWith(CURRENT_PREFIX);

/**
 * What an unknown user's password is verified against, so that it costs a real verification:
 * an argon2id hash with our parameters of a random secret that was thrown away. A constant,
 * not hashed at each start (a start then needs no worker; decision 332); its result is
 * ignored, so knowing it tells nothing. Made again whenever ARGON2_PARAMS change (a test checks).
 */
export const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$9q/3V/wP/4m1AzkC/lMweQ$LjGu+67iwIqU6uQR4s2m5ep4SbfwJ0pRBOylOClKRzQ';

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
parentPort.on('message', (task) => {
  try {
    const result = task.op === 'hash' ? hashSync(task.password, task.params) : verifySync(task.hash, task.password);
    parentPort.postMessage({ id: task.id, result });
  } catch (error) {
    // A malformed stored hash verifies as false; a failed hash is an error.
    parentPort.postMessage({ id: task.id, result: false, error: task.op === 'hash' ? String(error) : undefined });
  }
});
`;

/** Tasks a worker holds at once: the one it runs and the next one. */
const INBOX = 2;
/** Tasks that may wait for a worker; beyond that a burst is refused (503) rather than queued without bound. */
const QUEUE_PER_WORKER = 64;

type Task = { id: number; op: 'hash' | 'verify'; password: string; hash?: string; params?: typeof ARGON2_PARAMS };
type Slot = { worker: Worker; inFlight: Set<number> };
type Pending = { resolve: (value: string | boolean) => void; reject: (error: Error) => void };

class HashingPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Task[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly argon2 = createRequire(import.meta.url).resolve('@node-rs/argon2');
  private nextId = 0;
  private closed = false;

  /** The workers start with the first task, not with the process: a node that has not hashed yet holds none (decision 332). */
  constructor(private readonly size: number) {}

  run(task: Omit<Task, 'id'>): Promise<string | boolean> {
    if (this.closed) return Promise.reject(new Error('The password hasher is closed'));
    while (this.slots.length < this.size) this.slots.push(this.spawn());
    if (this.waiting.length >= QUEUE_PER_WORKER * this.size) {
      return Promise.reject(new AppError('server_busy', 'Too many sign-ins at once; try again in a moment'));
    }
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.waiting.push({ ...task, id });
      this.dispatch();
    });
  }

  async close() {
    this.closed = true;
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(new Error('The password hasher is closed'));
    }
    this.waiting.length = 0;
    await Promise.all(this.slots.map(({ worker }) => worker.terminate()));
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { argon2: this.argon2 } }), inFlight: new Set() };
    slot.worker.on('message', (message: { id: number; result: string | boolean; error?: string }) => this.settle(slot, message));
    // A worker that dies fails its tasks, and a fresh one takes its place.
    slot.worker.on('error', () => undefined);
    slot.worker.on('exit', () => this.replace(slot));
    slot.worker.unref();
    return slot;
  }

  private replace(dead: Slot) {
    for (const id of dead.inFlight) this.fail(id, new Error('A password hashing worker stopped'));
    const index = this.slots.indexOf(dead);
    if (index < 0 || this.closed) return;
    this.slots[index] = this.spawn();
    this.dispatch();
  }

  private dispatch() {
    while (this.waiting.length > 0) {
      const slot = this.slots.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
      if (slot.inFlight.size >= INBOX) return;
      const task = this.waiting.shift()!;
      if (!this.pending.has(task.id)) continue;
      if (slot.inFlight.size === 0) slot.worker.ref(); // work in progress keeps the process alive
      slot.inFlight.add(task.id);
      slot.worker.postMessage(task);
    }
  }

  private settle(slot: Slot, { id, result, error }: { id: number; result: string | boolean; error?: string }) {
    slot.inFlight.delete(id);
    if (slot.inFlight.size === 0) slot.worker.unref();
    const pending = this.pending.get(id);
    this.pending.delete(id);
    if (error) pending?.reject(new Error(error));
    else pending?.resolve(result);
    this.dispatch();
  }

  private fail(id: number, error: Error) {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    pending?.reject(error);
  }
}

/** `observe` (tests) hears of every task given to the argon2 pool: its operation and the hash it verifies against. */
export async function createPasswordHasher(
  workers = availableParallelism(),
  observe?: (task: { op: Task['op']; hash?: string | undefined }) => void,
): Promise<PasswordHasher> {
  const pool = new HashingPool(workers);
  const run = (task: Omit<Task, 'id'>) => {
    observe?.({ op: task.op, hash: task.hash });
    return pool.run(task);
  };
  const hashPassword = async (password: string) => (await run({ op: 'hash', password, params: ARGON2_PARAMS })) as string;
  // An unknown user costs the same as a wrong password (docs/security.md#v2-authentication).
  const dummy = async (password: string) => {
    await run({ op: 'verify', hash: DUMMY_HASH, password });
    return false;
  };
  return {
    hash: hashPassword,
    async verify(storedHash, password) {
      if (!storedHash) return dummy(password);
      if (!isArgon2(storedHash)) {
        // Imported bcrypt, PBKDF2 and scrypt hashes (./legacy-hashes.ts). The dummy runs beside the
        // check, so a cheap legacy hash answers no sooner than an unknown user (docs/security.md#v2-authentication): imported accounts
        // that have not signed in yet are not told apart by timing.
        const [ok] = await Promise.all([verifyLegacyHash(storedHash, password), dummy(password)]);
        return ok;
      }
      // Our own parameters go straight to the pool; a foreign argon2 hash only within the work bounds
      // (legacy-hashes.ts): a malformed or too expensive one costs the dummy and verifies as false.
      if (needsRehash(storedHash) && !parseHash(storedHash)) return dummy(password);
      return (await run({ op: 'verify', hash: storedHash, password })) as boolean;
    },
    close: () => pool.close(),
  };
}
