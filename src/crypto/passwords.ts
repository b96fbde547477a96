import { availableParallelism } from 'node:os';
import { hash, verify } from '@node-rs/argon2';

/** OWASP's argon2id baseline; DESIGN §2 and the issue fix these values. */
export const ARGON2_PARAMS = {
  algorithm: 2, // Algorithm.Argon2id (a const enum, not importable under verbatimModuleSyntax)
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

/**
 * Bounds how many hashes run at once. @node-rs/argon2 already runs off the event loop
 * (libuv thread pool); this keeps a burst of sign-ins from queueing more hashing work
 * than there are cores, which would only add latency and memory (19 MiB each).
 */
class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies against the stored hash, or against a dummy hash when there is none. */
  verify(storedHash: string | null | undefined, password: string): Promise<boolean>;
}

export async function createPasswordHasher(concurrency = availableParallelism()): Promise<PasswordHasher> {
  const gate = new Semaphore(concurrency);
  const hashPassword = (password: string) => gate.run(() => hash(password, ARGON2_PARAMS));
  // An unknown user costs the same as a wrong password (DESIGN §6).
  const dummyHash = await hashPassword(`dummy-${Math.random()}`);
  return {
    hash: hashPassword,
    async verify(storedHash, password) {
      const target = storedHash ?? dummyHash;
      const ok = await gate.run(() => verify(target, password).catch(() => false));
      return ok && storedHash != null;
    },
  };
}
