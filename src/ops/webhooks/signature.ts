import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../../platform/crypto/secrets.js';

/** The header every delivery carries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const SIGNATURE_HEADER = 'gatehouse-signature';

export function signatureOf(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

export function signatureHeader(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${signatureOf(secret, timestamp, body)}`;
}

/**
 * What a receiver does (and the tests do): recompute the HMAC over the timestamp and the
 * raw body, compare in constant time, and refuse a timestamp older than the tolerance, so
 * a captured delivery cannot be replayed later. During a secret rotation, try both secrets.
 */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  if (!header) return false;
  const parts = new Map<string, string[]>();
  for (const part of header.split(',')) {
    const [key = '', value = ''] = part.split('=', 2).map((s) => s.trim());
    parts.set(key, [...(parts.get(key) ?? []), value]);
  }
  const timestamp = Number(parts.get('t')?.[0]);
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signatureOf(secret, timestamp, body), 'hex');
  return (parts.get('v1') ?? []).some(
    (candidate) => /^[0-9a-f]{64}$/.test(candidate) && constantTimeEqual(Buffer.from(candidate, 'hex'), expected),
  );
}
