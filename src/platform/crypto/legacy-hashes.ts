import { createDecipheriv, pbkdf2, scrypt, timingSafeEqual } from 'node:crypto';
import { verify as bcryptVerify } from '@node-rs/bcrypt';

/**
 * Password hashes made by other systems (decision 140), as imported users bring them.
 * Each is verified as its own algorithm says; after the first successful sign-in the
 * password is hashed again with our argon2id parameters (`needsRehash` in passwords.ts).
 *
 *   bcrypt          $2a$ / $2b$ / $2y$ (verified by @node-rs/bcrypt, off the event loop)
 *   argon2          $argon2id$ / $argon2i$ / $argon2d$ (the argon2 worker pool)
 *   PBKDF2 (PHC)    $pbkdf2$ (SHA-1) / $pbkdf2-sha256$ / $pbkdf2-sha512$ ROUNDS$SALT$HASH, passlib's adapted base64
 *   PBKDF2 (Django) pbkdf2_sha256$ROUNDS$SALT$HASH (also pbkdf2_sha1, pbkdf2_sha512), salt as text, hash base64
 *   scrypt (PHC)    $scrypt$ln=LOG2N,r=R,p=P$SALT$HASH, passlib's adapted base64
 *   Firebase scrypt $firebase-scrypt$r=ROUNDS,m=MEM_COST$SIGNER_KEY$SALT_SEPARATOR$SALT$HASH, each base64
 */
export type HashKind = 'argon2' | 'bcrypt' | 'pbkdf2' | 'scrypt' | 'firebase-scrypt';

/** Argon2 hashes go to the argon2 worker pool (within the work bounds); the others are verified here. */
export const isArgon2 = (hash: string): boolean => /^\$argon2(id|i|d)\$/.test(hash);

/**
 * Work bounds: an imported hash must not make one sign-in cost seconds of CPU or hundreds
 * of megabytes. A hash beyond them is refused at import (`hash_too_expensive`) and
 * verifies as false without the work (a hash stored before the bounds, or written around
 * the import).
 */
export const HASH_BOUNDS = {
  argon2: { memoryKiB: 262_144, time: 10, parallelism: 8 },
  pbkdf2: { rounds: 2_000_000, keyBytes: 64 },
  bcrypt: { cost: 14 },
  /** scrypt and Firebase scrypt: 128·N·r·p bytes (the memory at p = 1, and the work), p, and the derived key. */
  scrypt: { memoryBytes: 256 * 1024 * 1024, parallelism: 16, keyBytes: 64 },
} as const;

type Pbkdf2 = { kind: 'pbkdf2'; digest: 'sha1' | 'sha256' | 'sha512'; rounds: number; salt: Buffer; hash: Buffer };
type Scrypt = { kind: 'scrypt'; N: number; r: number; p: number; salt: Buffer; hash: Buffer };
type Firebase = {
  kind: 'firebase-scrypt';
  rounds: number;
  memCost: number;
  signerKey: Buffer;
  separator: Buffer;
  salt: Buffer;
  hash: Buffer;
};
type Argon2 = { kind: 'argon2'; m: number; t: number; p: number };
type Bcrypt = { kind: 'bcrypt'; cost: number };
type Parsed = Argon2 | Bcrypt | Pbkdf2 | Scrypt | Firebase;

/** passlib's "adapted base64": `.` for `+`, no padding. */
const ab64 = (s: string) => Buffer.from(s.replaceAll('.', '+'), 'base64');
const BASE64 = /^[A-Za-z0-9+/.]*={0,2}$/;
const PHC_DIGESTS: Record<string, Pbkdf2['digest']> = { pbkdf2: 'sha1', 'pbkdf2-sha256': 'sha256', 'pbkdf2-sha512': 'sha512' };
const DJANGO_DIGESTS: Record<string, Pbkdf2['digest']> = { pbkdf2_sha1: 'sha1', pbkdf2_sha256: 'sha256', pbkdf2_sha512: 'sha512' };

function int(value: string | undefined, min: number, max = 999_999_999): number | undefined {
  if (!value || !/^\d{1,9}$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

function params(text: string | undefined): Record<string, string> {
  return Object.fromEntries((text ?? '').split(',').map((kv) => kv.split('=', 2) as [string, string]));
}

const ARGON2 = /^\$argon2(id|i|d)\$(v=\d+\$)?m=(\d{1,9}),t=(\d{1,9}),p=(\d{1,9})\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

/** The hash's algorithm and parameters, whatever its cost, or undefined when it is no format we know. */
function parse(hash: string): Parsed | undefined {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
    const cost = Number(hash.slice(4, 6));
    return cost >= 4 && cost <= 31 ? { kind: 'bcrypt', cost } : undefined;
  }
  if (isArgon2(hash)) {
    const match = ARGON2.exec(hash);
    return match ? { kind: 'argon2', m: Number(match[3]), t: Number(match[4]), p: Number(match[5]) } : undefined;
  }
  const parts = hash.split('$');
  const phc = parts[0] === '' ? parts.slice(1) : undefined;
  if (phc && phc[0]! in PHC_DIGESTS && phc.length === 4 && BASE64.test(phc[2]!) && BASE64.test(phc[3]!)) {
    const rounds = int(phc[1], 1);
    const out = ab64(phc[3]!);
    return rounds && out.length > 0 ? { kind: 'pbkdf2', digest: PHC_DIGESTS[phc[0]!]!, rounds, salt: ab64(phc[2]!), hash: out } : undefined;
  }
  if (!phc && parts[0]! in DJANGO_DIGESTS && parts.length === 4 && BASE64.test(parts[3]!)) {
    const rounds = int(parts[1], 1);
    const out = Buffer.from(parts[3]!, 'base64');
    return rounds && out.length > 0
      ? { kind: 'pbkdf2', digest: DJANGO_DIGESTS[parts[0]!]!, rounds, salt: Buffer.from(parts[2]!, 'utf8'), hash: out }
      : undefined;
  }
  if (phc?.[0] === 'scrypt' && phc.length === 4 && BASE64.test(phc[2]!) && BASE64.test(phc[3]!)) {
    const p = params(phc[1]);
    const ln = int(p.ln, 1, 63);
    const r = int(p.r, 1);
    const par = int(p.p, 1);
    const out = ab64(phc[3]!);
    if (!ln || !r || !par || out.length === 0) return undefined;
    return { kind: 'scrypt', N: 2 ** ln, r, p: par, salt: ab64(phc[2]!), hash: out };
  }
  if (phc?.[0] === 'firebase-scrypt' && phc.length === 6 && phc.slice(2).every((part) => BASE64.test(part))) {
    const p = params(phc[1]);
    const rounds = int(p.r, 1);
    const memCost = int(p.m, 1, 63);
    const [signerKey, separator, salt, out] = phc.slice(2).map((part) => Buffer.from(part, 'base64')) as [Buffer, Buffer, Buffer, Buffer];
    if (!rounds || !memCost || out.length === 0 || out.length !== signerKey.length) return undefined;
    return { kind: 'firebase-scrypt', rounds, memCost, signerKey, separator, salt, hash: out };
  }
  return undefined;
}

const scryptWithin = (N: number, r: number, p: number, keyBytes: number) =>
  128 * N * r * p <= HASH_BOUNDS.scrypt.memoryBytes && p <= HASH_BOUNDS.scrypt.parallelism && keyBytes <= HASH_BOUNDS.scrypt.keyBytes;

/** Whether verifying the hash stays within HASH_BOUNDS. */
function withinBounds(parsed: Parsed): boolean {
  switch (parsed.kind) {
    case 'argon2': {
      const b = HASH_BOUNDS.argon2;
      return parsed.m <= b.memoryKiB && parsed.t <= b.time && parsed.p <= b.parallelism;
    }
    case 'bcrypt':
      return parsed.cost <= HASH_BOUNDS.bcrypt.cost;
    case 'pbkdf2':
      return parsed.rounds <= HASH_BOUNDS.pbkdf2.rounds && parsed.hash.length <= HASH_BOUNDS.pbkdf2.keyBytes;
    case 'scrypt':
      return scryptWithin(parsed.N, parsed.r, parsed.p, parsed.hash.length);
    case 'firebase-scrypt':
      // The derived key is 32 bytes (an AES-256 key); the signer key it encrypts is cheap whatever its length.
      return scryptWithin(2 ** parsed.memCost, parsed.rounds, 1, 32);
  }
}

/** What an import makes of a hash: one we verify, one we know but refuse as too expensive, or an unknown format. */
export function classifyHash(hash: string): 'ok' | 'too_expensive' | 'unknown' {
  const parsed = parse(hash);
  if (!parsed) return 'unknown';
  return withinBounds(parsed) ? 'ok' : 'too_expensive';
}

/** The hash's algorithm and parameters, or undefined when it is no format we know or beyond the work bounds. */
export function parseHash(hash: string): Parsed | undefined {
  const parsed = parse(hash);
  return parsed && withinBounds(parsed) ? parsed : undefined;
}

/** The string form of a Firebase scrypt hash (the project's parameters and the user's salt and hash, base64). */
export function firebaseScryptHash(input: {
  signerKey: string;
  saltSeparator: string;
  rounds: number;
  memCost: number;
  salt: string;
  hash: string;
}): string {
  return `$firebase-scrypt$r=${input.rounds},m=${input.memCost}$${input.signerKey}$${input.saltSeparator}$${input.salt}$${input.hash}`;
}

const scryptAsync = (password: string, salt: Buffer, length: number, N: number, r: number, p: number) =>
  new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, length, { N, r, p, maxmem: 128 * N * r * p + 1024 * 1024 + 128 * N * r }, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );

const pbkdf2Async = (password: string, salt: Buffer, rounds: number, length: number, digest: string) =>
  new Promise<Buffer>((resolve, reject) =>
    pbkdf2(password, salt, rounds, length, digest, (error, key) => (error ? reject(error) : resolve(key))),
  );

const same = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/**
 * Verifies a password against a hash that is not argon2 (those go to the worker pool).
 * node:crypto's pbkdf2 and scrypt and @node-rs/bcrypt run on libuv's thread pool, so the
 * event loop goes on serving while they work. An unknown format, or one beyond the work
 * bounds, verifies as false without doing the work.
 */
export async function verifyLegacyHash(hash: string, password: string): Promise<boolean> {
  const parsed = parseHash(hash);
  switch (parsed?.kind) {
    case 'argon2':
      return false; // the argon2 worker pool's (createPasswordHasher), never here
    case 'bcrypt':
      return bcryptVerify(password, hash).catch(() => false);
    case 'pbkdf2':
      return same(await pbkdf2Async(password, parsed.salt, parsed.rounds, parsed.hash.length, parsed.digest), parsed.hash);
    case 'scrypt':
      return same(await scryptAsync(password, parsed.salt, parsed.hash.length, parsed.N, parsed.r, parsed.p), parsed.hash);
    case 'firebase-scrypt': {
      // Firebase's modified scrypt: the derived key encrypts the project's signer key (AES-256-CTR, zero IV).
      const salt = Buffer.concat([parsed.salt, parsed.separator]);
      const key = await scryptAsync(password, salt, 32, 2 ** parsed.memCost, parsed.rounds, 1);
      const cipher = createDecipheriv('aes-256-ctr', key, Buffer.alloc(16));
      return same(Buffer.concat([cipher.update(parsed.signerKey), cipher.final()]), parsed.hash);
    }
    default:
      return false;
  }
}
