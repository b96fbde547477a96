import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from 'node:crypto';
import { AppError } from '../../platform/errors.js';

/**
 * The backup file: a header in clear, then the payload in AES-256-GCM chunks.
 *
 *   magic "GHBACKUP" | format version (1 byte) | header length (u32 BE) | header JSON |
 *   header tag (16 bytes) | chunk* where chunk = length (u32 BE) | ciphertext | tag (16 bytes)
 *
 * The key comes from the passphrase with scrypt (random salt, parameters in the header).
 * The header tag is GCM over an empty text with the header as additional data: a wrong
 * passphrase (or an altered header) is recognised before any payload is read. Each chunk
 * has its index as nonce and the header's hash and a "final" flag as additional data, so
 * chunks cannot be reordered, moved to another file, altered, or cut off unnoticed: a file
 * whose last chunk is not marked final is truncated.
 */
export const MAGIC = Buffer.from('GHBACKUP', 'ascii');
export const FORMAT_VERSION = 1;
/** Plaintext bytes per chunk: memory stays bounded whatever the size of the database. */
export const CHUNK_SIZE = 64 * 1024;
const MAX_CHUNK = 16 * 1024 * 1024;
const MAX_HEADER = 64 * 1024;
const TAG = 16;

export interface KdfParams {
  name: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

/** What the header says, in clear but authenticated. */
export interface BackupHeader {
  /** The applied migrations of the source database: the schema version. */
  schema: string[];
  created_at: string;
  kdf: KdfParams;
}

export const DEFAULT_KDF: { N: number; r: number; p: number } = { N: 2 ** 15, r: 8, p: 1 };

/**
 * A file's header names the scrypt cost its reader pays before the passphrase is known to
 * be right: whoever crafts a backup (or an export) could demand minutes of CPU and
 * gigabytes of memory from whoever restores it. Nothing above what Gatehouse writes is
 * derived (decision 218): 32 MiB and about 0.1 s.
 */
export function assertKdfBounds(kdf: { N: unknown; r: unknown; p: unknown }): void {
  const { N, r, p } = kdf;
  const within = (value: unknown, max: number) => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max;
  if (!within(N, DEFAULT_KDF.N) || !within(r, DEFAULT_KDF.r) || !within(p, DEFAULT_KDF.p)) {
    throw new AppError(
      'kdf_too_expensive',
      `The file's key derivation costs more than Gatehouse writes (scrypt N ≤ ${DEFAULT_KDF.N}, r ≤ ${DEFAULT_KDF.r}, p ≤ ${DEFAULT_KDF.p})`,
      { N, r, p },
    );
  }
}
export const MIN_PASSPHRASE = 12;

export function checkPassphrase(passphrase: string | undefined): string {
  if (!passphrase || passphrase.length < MIN_PASSPHRASE) {
    throw new AppError('weak_passphrase', `The backup passphrase must have at least ${MIN_PASSPHRASE} characters`);
  }
  return passphrase;
}

/** The AES-256 key a passphrase gives with these scrypt parameters (the backup, and the user export). */
export function deriveKey(passphrase: string, kdf: KdfParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const options = { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 };
    scrypt(passphrase, Buffer.from(kdf.salt, 'base64'), 32, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

const nonce = (index: number) => {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(BigInt(index), 4);
  return iv;
};
/** The header tag's nonce: never a chunk's (those start with four zero bytes). */
const HEADER_NONCE = Buffer.from('ffffffff0000000000000000', 'hex');

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Encrypts a stream of text into the file's bytes; `push` and `finish` return the bytes to write. */
export class BackupEncryptor {
  private index = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private constructor(
    private readonly key: Buffer,
    private readonly headerHash: Buffer,
    readonly preamble: Buffer,
  ) {}

  static async create(passphrase: string, header: Omit<BackupHeader, 'kdf'>, kdf = DEFAULT_KDF): Promise<BackupEncryptor> {
    assertKdfBounds(kdf); // a file no Gatehouse would restore is not written
    const params: KdfParams = { name: 'scrypt', ...kdf, salt: randomBytes(16).toString('base64') };
    const key = await deriveKey(passphrase, params);
    const json = Buffer.from(JSON.stringify({ ...header, kdf: params }), 'utf8');
    const headerBytes = Buffer.concat([MAGIC, Buffer.from([FORMAT_VERSION]), u32(json.length), json]);
    const cipher = createCipheriv('aes-256-gcm', key, HEADER_NONCE);
    cipher.setAAD(headerBytes);
    cipher.final();
    const preamble = Buffer.concat([headerBytes, cipher.getAuthTag()]);
    return new BackupEncryptor(key, createHash('sha256').update(headerBytes).digest(), preamble);
  }

  /** Buffers text; returns whole chunks once there is enough (possibly none). */
  push(text: string): Buffer[] {
    const bytes = Buffer.from(text, 'utf8');
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    const out: Buffer[] = [];
    while (this.pendingBytes >= CHUNK_SIZE) {
      const all = Buffer.concat(this.pending);
      out.push(this.seal(all.subarray(0, CHUNK_SIZE), false));
      const rest = all.subarray(CHUNK_SIZE);
      this.pending = [rest];
      this.pendingBytes = rest.length;
    }
    return out;
  }

  /** The last chunk, marked final. */
  finish(): Buffer {
    const last = this.seal(Buffer.concat(this.pending), true);
    this.pending = [];
    this.pendingBytes = 0;
    return last;
  }

  private seal(plain: Buffer, final: boolean): Buffer {
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce(this.index++));
    cipher.setAAD(Buffer.concat([this.headerHash, Buffer.from([final ? 1 : 0])]));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([u32(body.length), body, cipher.getAuthTag()]);
  }
}

/** Reads exactly n bytes from a byte stream, or fewer at its end. */
class ByteReader {
  private buffered: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly source: AsyncIterator<Buffer | Uint8Array>) {}

  /** Lets go of the source (closes a file stream read only in part). */
  async close(): Promise<void> {
    await this.source.return?.();
  }

  async read(n: number): Promise<Buffer> {
    while (this.buffered.length < n && !this.done) {
      const next = await this.source.next();
      if (next.done) this.done = true;
      else this.buffered = Buffer.concat([this.buffered, Buffer.from(next.value)]);
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(out.length);
    return out;
  }
}

const truncated = () => new AppError('backup_truncated', 'The backup file is truncated: it ends before its last chunk');
const corrupt = (what: string) => new AppError('backup_corrupt', `The backup file was altered or damaged: ${what}`);
const notABackup = () => new AppError('not_a_backup', 'This is not a Gatehouse backup file');

/** Reads and checks the header with the passphrase; then `chunks()` yields the payload, checked. */
export class BackupDecryptor {
  private constructor(
    readonly header: BackupHeader,
    private readonly key: Buffer,
    private readonly headerHash: Buffer,
    private readonly reader: ByteReader,
  ) {}

  static async open(source: AsyncIterable<Buffer | Uint8Array>, passphrase: string): Promise<BackupDecryptor> {
    const reader = new ByteReader(source[Symbol.asyncIterator]());
    try {
      return await BackupDecryptor.read(reader, passphrase);
    } catch (error) {
      await reader.close();
      throw error;
    }
  }

  private static async read(reader: ByteReader, passphrase: string): Promise<BackupDecryptor> {
    const start = await reader.read(MAGIC.length + 5);
    if (start.length < MAGIC.length || !start.subarray(0, MAGIC.length).equals(MAGIC)) throw notABackup();
    if (start.length < MAGIC.length + 5) throw truncated();
    const version = start[MAGIC.length];
    if (version !== FORMAT_VERSION) {
      throw new AppError(
        'backup_unsupported',
        `Backup format version ${version} is not supported (this Gatehouse reads ${FORMAT_VERSION})`,
      );
    }
    const length = start.readUInt32BE(MAGIC.length + 1);
    if (length > MAX_HEADER) throw corrupt('header too long');
    const json = await reader.read(length);
    const tag = await reader.read(TAG);
    if (json.length < length || tag.length < TAG) throw truncated();
    const header = parseHeader(json);
    assertKdfBounds(header.kdf);
    const key = await deriveKey(passphrase, header.kdf);
    const headerBytes = Buffer.concat([start, json]);
    const decipher = createDecipheriv('aes-256-gcm', key, HEADER_NONCE);
    decipher.setAAD(headerBytes);
    decipher.setAuthTag(tag);
    try {
      decipher.final();
    } catch {
      throw new AppError('wrong_passphrase', 'Wrong passphrase for this backup (or its header was altered)');
    }
    return new BackupDecryptor(header, key, createHash('sha256').update(headerBytes).digest(), reader);
  }

  close(): Promise<void> {
    return this.reader.close();
  }

  /** The payload, chunk by chunk; throws before yielding anything that does not authenticate. */
  async *chunks(): AsyncGenerator<Buffer> {
    for (let index = 0; ; index++) {
      const lengthBytes = await this.reader.read(4);
      if (lengthBytes.length < 4) throw truncated();
      const length = lengthBytes.readUInt32BE(0);
      if (length > MAX_CHUNK) throw corrupt(`chunk ${index} has an impossible length`);
      const body = await this.reader.read(length + TAG);
      if (body.length < length + TAG) throw truncated();
      const [text, tag] = [body.subarray(0, length), body.subarray(length)];
      const middle = this.open(index, text, tag, false);
      if (middle) {
        yield middle;
        continue;
      }
      const last = this.open(index, text, tag, true);
      if (!last) throw corrupt(`chunk ${index} does not authenticate`);
      if ((await this.reader.read(1)).length > 0) throw corrupt('data after the last chunk');
      yield last;
      return;
    }
  }

  private open(index: number, body: Buffer, tag: Buffer, final: boolean): Buffer | undefined {
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce(index));
    decipher.setAAD(Buffer.concat([this.headerHash, Buffer.from([final ? 1 : 0])]));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      return undefined;
    }
  }
}

function parseHeader(json: Buffer): BackupHeader {
  let header: BackupHeader;
  try {
    header = JSON.parse(json.toString('utf8'));
  } catch {
    throw corrupt('the header is not valid JSON');
  }
  const kdf = header?.kdf;
  const valid =
    Array.isArray(header?.schema) &&
    header.schema.every((name) => typeof name === 'string') &&
    kdf?.name === 'scrypt' &&
    Number.isInteger(kdf.N) &&
    kdf.N >= 2 ** 14 &&
    (kdf.N & (kdf.N - 1)) === 0 &&
    Number.isInteger(kdf.r) &&
    Number.isInteger(kdf.p) &&
    typeof kdf.salt === 'string';
  if (!valid) throw corrupt('the header lacks the schema version or key derivation parameters');
  return header;
}
