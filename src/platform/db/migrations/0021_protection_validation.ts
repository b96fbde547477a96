import type { Kysely } from 'kysely';
import { parseEmail } from '../../mail/address.js';

/**
 * Issue 12, protection and input validation.
 *
 * Brute-force protection: the home tenant's stricter backoff refuses quietly (decision
 * 210), decided from the row under its lock by the statement that counts the attempt; and
 * the sweep that forgets expired counters and links (decision 215) finds them by index.
 */
export const up = [
  `alter table attempt_accounts add column quiet boolean not null default false`,
  `create index attempt_accounts_idle_idx on attempt_accounts (updated_at) where not hard_locked`,
  `create index attempt_pairs_idle_idx on attempt_pairs (updated_at)`,
  `create index attempt_ips_window_idx on attempt_ips (window_started_at)`,
  `create index unblock_tokens_expiry_idx on unblock_tokens (expires_at)`,
];

/**
 * Every stored address in its one normal form (decision 213): the domain in IDNA ASCII and
 * lower case without a trailing dot, the local part NFKC. The unique index on lower(email)
 * then compares normal forms, so a look-alike of an account is that account.
 *
 * Rewrites the addresses stored before the validator, oldest account first. Left as they
 * are: an address the validator refuses (a Cyrillic local part; it stays reachable by its
 * exact spelling), and one whose normal form another account holds already: those pairs
 * were look-alikes of each other, which an administrator resolves (docs/operations.md).
 */
export async function data(db: Kysely<any>): Promise<void> {
  const rows: { id: string; email: string }[] = await db.selectFrom('users').select(['id', 'email']).orderBy('id').execute();
  const taken = new Set(rows.map((row) => row.email.toLowerCase()));
  const unresolved: string[] = [];
  for (const row of rows) {
    const normal = parseEmail(row.email);
    if (!normal || normal === row.email) continue;
    const key = normal.toLowerCase();
    if (key !== row.email.toLowerCase()) {
      if (taken.has(key)) {
        unresolved.push(row.id);
        continue;
      }
      taken.delete(row.email.toLowerCase());
      taken.add(key);
    }
    await db.updateTable('users').set({ email: normal }).where('id', '=', row.id).execute();
  }
  if (unresolved.length > 0) {
    // No logger this early; the operator reads this once, at the upgrade.
    console.warn(
      `gatehouse: ${unresolved.length} account(s) have an address that is a look-alike of another account's and were left as they were: ${unresolved.join(', ')}`,
    );
  }
}
