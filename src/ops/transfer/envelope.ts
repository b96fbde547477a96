import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AppError } from '../../platform/errors.js';
import { assertKdfBounds, DEFAULT_KDF, deriveKey, type KdfParams, MIN_PASSPHRASE } from '../backup/format.js';

/**
 * The secrets of a user export (decision 142). The first line of the file is this header;
 * every secret value in the following lines is `{ "enc": "<iv>.<tag>.<ciphertext>" }`
 * (base64url), AES-256-GCM under a key derived from the administrator's passphrase with
 * scrypt and the header's per-file salt. The field name and the user's email address
 * (lower-cased) are bound as additional data, so an encrypted password hash cannot be
 * passed off as a TOTP seed, nor moved onto another user's line (version 2; version 1
 * bound the field only and is refused). `check` is a known text
 * encrypted the same way: a wrong passphrase is recognised before anything is imported.
 */
export const EXPORT_FORMAT = 'gatehouse-users';
export const EXPORT_VERSION = 2;
const CHECK_TEXT = 'gatehouse-users-export';

export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  version: number;
  created_at: string;
  kdf: KdfParams;
  check: Encrypted;
}

export interface Encrypted {
  enc: string;
}

export const isEncrypted = (value: unknown): value is Encrypted =>
  typeof value === 'object' && value !== null && typeof (value as Encrypted).enc === 'string' && Object.keys(value).length === 1;

export const isExportHeader = (value: unknown): value is ExportHeader =>
  typeof value === 'object' && value !== null && (value as ExportHeader).format === EXPORT_FORMAT;

export function assertExportPassphrase(passphrase: string | undefined): string {
  if (!passphrase || passphrase.length < MIN_PASSPHRASE) {
    throw new AppError('weak_passphrase', `The export passphrase must have at least ${MIN_PASSPHRASE} characters`);
  }
  return passphrase;
}

export class Envelope {
  private constructor(private readonly key: Buffer) {}

  /** A new file: a fresh salt, and the header line that carries it. */
  static async create(passphrase: string, now: Date): Promise<{ envelope: Envelope; header: ExportHeader }> {
    const kdf: KdfParams = { name: 'scrypt', ...DEFAULT_KDF, salt: randomBytes(16).toString('base64') };
    const envelope = new Envelope(await deriveKey(assertExportPassphrase(passphrase), kdf));
    const header = {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      created_at: now.toISOString(),
      kdf,
      check: envelope.encrypt('check', '', CHECK_TEXT),
    } as const;
    return { envelope, header };
  }

  /** Opens a file's header with the passphrase; a wrong one is `wrong_passphrase`. */
  static async open(header: ExportHeader, passphrase: string | undefined): Promise<Envelope> {
    if (header.version !== EXPORT_VERSION || header.kdf?.name !== 'scrypt') {
      throw new AppError('invalid_import_file', `Unknown export format version ${String(header.version)}`);
    }
    if (!passphrase) throw new AppError('passphrase_required', 'This is an encrypted Gatehouse export: give its passphrase');
    if (typeof header.kdf.salt !== 'string') throw new AppError('invalid_import_file', 'The export header has no key derivation salt');
    assertKdfBounds(header.kdf);
    const envelope = new Envelope(await deriveKey(passphrase, header.kdf));
    let check: string | undefined;
    try {
      check = isEncrypted(header.check) ? envelope.decrypt('check', '', header.check) : undefined;
    } catch {
      check = undefined;
    }
    if (check !== CHECK_TEXT) throw new AppError('wrong_passphrase', 'Wrong passphrase for this export (or the header was altered)');
    return envelope;
  }

  /** `owner`: the email address of the user whose line carries the value ('' for the header's check). */
  encrypt(field: string, owner: string, plaintext: string): Encrypted {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(aad(field, owner));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { enc: [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.') };
  }

  /** Throws when the value was altered, or encrypted for another field or another user. */
  decrypt(field: string, owner: string, value: Encrypted): string {
    const [iv, tag, body] = value.enc.split('.');
    if (!iv || !tag || body === undefined) throw new Error('Malformed encrypted value');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(aad(field, owner));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}

/** JSON keeps the parts apart whatever an email address holds; the address as the line gives it, trimmed and lower-cased. */
const aad = (field: string, owner: string) =>
  Buffer.from(JSON.stringify([`${EXPORT_FORMAT}:v${EXPORT_VERSION}`, field, owner.trim().toLowerCase()]), 'utf8');
