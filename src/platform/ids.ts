import { randomFillSync } from 'node:crypto';

/** Identifier source, injected so tests can control it (docs/architecture.md#the-context). */
export interface IdGenerator {
  next(): string;
}

/**
 * UUIDv7 (RFC 9562): 48-bit millisecond timestamp, a 12-bit counter (method 1), then
 * random bits. Monotonic within a process, even for ids made in the same millisecond, so
 * primary-key order is creation order and cursor pagination by id is stable.
 */
let lastMs = 0;
let counter = 0;

/** Random bytes drawn from a pool refilled 4 KiB at a time (an id is made on every write). */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
function random16(): Buffer {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += 16;
  return Buffer.from(pool.subarray(poolOffset - 16, poolOffset));
}

export const uuidv7: IdGenerator = {
  next() {
    const bytes = random16();
    const now = Date.now();
    if (now > lastMs) {
      lastMs = now;
      counter = bytes.readUInt16BE(6) & 0x7ff; // a random start, with half the range left to count
    } else if (++counter > 0xfff) {
      lastMs++; // the counter ran out within one millisecond: borrow the next one
      counter = 0;
    }
    bytes.writeUIntBE(lastMs, 0, 6);
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  },
};

/** Ids as Gatehouse writes them: lower case, so that comparing two ids as strings is comparing ids. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isUuid = (value: string): boolean => UUID.test(value);

/** The clock, injected so tests can move time (lockout windows, expiry). */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };
