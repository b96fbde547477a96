import { createHash } from 'node:crypto';
import type { AppContext } from '../../platform/context.js';

const TIMEOUT_MS = 2_000;

/**
 * Have I Been Pwned's k-anonymity range API: only the first 5 hex digits of the password's
 * SHA-1 leave the server; the answer lists the suffixes of leaked hashes with that prefix
 * (padded, so its size tells nothing). Fails open: when the service cannot be reached in
 * time the password is accepted and a warning logged (without any part of the hash).
 */
export async function isBreachedPassword(ctx: AppContext, password: string): Promise<boolean> {
  const digest = createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase();
  const prefix = digest.slice(0, 5);
  const suffix = digest.slice(5);
  try {
    const response = await fetch(`${ctx.config.hibpUrl}/range/${prefix}`, {
      headers: { 'add-padding': 'true', 'user-agent': 'Gatehouse' },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    for (const line of (await response.text()).split('\n')) {
      const [candidate, count] = line.trim().split(':');
      if (candidate === suffix && Number(count) > 0) return true;
    }
    return false;
  } catch (error) {
    ctx.log.warn({ err: (error as Error).message }, 'Breached-password check unavailable; the password was accepted without it');
    return false;
  }
}
