import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Opaque tokens (docs/architecture.md#tokens): 256 random bits, base64url, with a short prefix that says
 * what the token is (so secret scanners and humans can tell). Stored only as SHA-256.
 */
export function randomToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Compares two secrets in constant time (a length mismatch is not a secret). */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Secrets at rest (private keys, later MFA seeds) are sealed with AES-256-GCM under the
 * master key. Format: `v1.<iv>.<tag>.<ciphertext>`, each part base64url. The context
 * string is bound as additional data, so a sealed value cannot be moved to another use.
 */
export function seal(masterKey: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(Buffer.from(context, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

export function unseal(masterKey: Buffer, sealed: string, context: string): string {
  const [version, iv, tag, body] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('Unknown sealed-secret format');
  const decipher = createDecipheriv('aes-256-gcm', masterKey, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
}

/**
 * A keyed fingerprint of a value that must not be stored as typed (a username that may be
 * a mistyped password): equal inputs give equal fingerprints, so attempts can be
 * correlated, but without the master key nothing can be read back or guessed offline.
 */
export function fingerprint(masterKey: Buffer, purpose: string, value: string): string {
  return createHmac('sha256', masterKey).update(`${purpose}\0${value}`, 'utf8').digest('base64url').slice(0, 22);
}

/**
 * What is stored for an OAuth client secret (docs/architecture.md#domain-model): an HMAC under the master key,
 * not a slow password hash, because client credentials are checked on every token
 * request. The secret is 256 random bits, so a fast keyed hash loses nothing.
 */
export function clientSecretDigest(masterKey: Buffer, secret: string): string {
  return createHmac('sha256', masterKey).update(`client-secret\0${secret}`, 'utf8').digest('base64url');
}
