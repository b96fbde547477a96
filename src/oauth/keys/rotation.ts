import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { type Actor, type AuditSource, recordAudit, SYSTEM_ACTOR } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { seal } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import type { KeyStatus } from '../../platform/db/schema.js';
import { SIGNING_ALGS, type SigningKeyAlg } from '../../platform/ports/signing-keys.js';
import { lockSigningKeys } from './queries.js';
import { SEAL_CONTEXT } from './signing-keys.js';

/** A new key pair as a row to insert (status and time are set by the caller). */
async function generateKey(masterKey: Buffer, alg: SigningKeyAlg) {
  const { publicKey, privateKey } = await generateKeyPair(
    alg,
    alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true },
  );
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const meta = { kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), ...meta };
  return {
    kid,
    alg,
    public_jwk: JSON.stringify({ ...publicJwk, ...meta }),
    private_jwk_sealed: seal(masterKey, JSON.stringify(privateJwk), `${SEAL_CONTEXT}:${kid}`),
  };
}

type NewKey = Awaited<ReturnType<typeof generateKey>>;

async function insertKey(trx: Db, source: AuditSource, actor: Actor, key: NewKey, status: KeyStatus): Promise<void> {
  await trx
    .insertInto('signing_keys')
    .values({ ...key, status, created_at: source.clock.now() })
    .execute();
  await recordAudit(trx, source, {
    action: 'iam.key.created',
    actor,
    target: { type: 'signing_key', id: key.kid },
    details: { alg: key.alg, status },
  });
}

/**
 * Creates whatever is missing of a `current` and a `next` key for each algorithm: every
 * key on a first start, the new ones on an upgrade. Runs under the key-set advisory lock,
 * so nodes starting together create one set, not several. Returns the new kids.
 */
export async function ensureSigningKeys(db: Db, source: AuditSource, masterKey: Buffer): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    await lockSigningKeys(trx);
    const held = await trx.selectFrom('signing_keys').select(['alg', 'status']).where('status', '!=', 'retired').execute();
    const created: string[] = [];
    for (const alg of SIGNING_ALGS) {
      for (const status of ['current', 'next'] as const) {
        if (held.some((row) => row.alg === alg && row.status === status)) continue;
        const key = await generateKey(masterKey, alg);
        await insertKey(trx, source, SYSTEM_ACTOR, key, status);
        created.push(key.kid);
      }
    }
    return created;
  });
}

export interface Rotation {
  alg: SigningKeyAlg;
  /** The key that signs from now on (the former `next`). */
  current: string;
  /** The former current key, published until the tokens it signed have expired (or withdrawn at once). */
  retired: string;
  /** Whether the former current key was withdrawn at once: out of the JWKS, its tokens no longer verify. */
  withdrawn: boolean;
  /** The new `next` key, published from now on. */
  next: string;
}

/**
 * Rotates the keys of one algorithm, or of all: current → retired, next → current, and a
 * new next. The new current key was published as `next`, so every node and resource server
 * already verifies what it signs. One transaction under the key-set lock; this node's
 * cache is dropped at once, other nodes follow within their cache period. With
 * `retireNow` (an incident: the key may be compromised) the former current key is
 * withdrawn: out of the JWKS at once, so nothing it signed verifies any more, here at once
 * and on every other node within the key cache's 30 seconds.
 */
export async function rotateKeys(
  ctx: Pick<AppContext, 'db' | 'clock' | 'ids' | 'masterKey' | 'keys'>,
  actor: Actor,
  options: { alg?: SigningKeyAlg | undefined; retireNow?: boolean | undefined } = {},
): Promise<Rotation[]> {
  const algs = options.alg ? [options.alg] : [...SIGNING_ALGS];
  // Key generation (an RSA key takes a while) happens before the lock is taken.
  const fresh = await Promise.all(algs.map((alg) => generateKey(ctx.masterKey, alg)));
  const rotations = await ctx.db.transaction().execute(async (trx) => {
    await lockSigningKeys(trx);
    const now = ctx.clock.now();
    const held = await trx
      .selectFrom('signing_keys')
      .select(['kid', 'alg', 'status'])
      .where('status', 'in', ['current', 'next'])
      .where('alg', 'in', algs)
      .execute();
    const done: Rotation[] = [];
    for (const [index, alg] of algs.entries()) {
      const current = held.find((row) => row.alg === alg && row.status === 'current');
      const next = held.find((row) => row.alg === alg && row.status === 'next');
      if (!current || !next) throw new Error(`The ${alg} key set is incomplete: start the server once to complete it`);
      const key = fresh[index]!;
      const withdrawn = options.retireNow === true;
      await trx
        .updateTable('signing_keys')
        .set({ status: 'retired', retired_at: now, ...(withdrawn && { withdrawn_at: now }) })
        .where('kid', '=', current.kid)
        .execute();
      await trx.updateTable('signing_keys').set({ status: 'current' }).where('kid', '=', next.kid).execute();
      await insertKey(trx, ctx, actor, key, 'next');
      await recordAudit(trx, ctx, {
        action: 'iam.key.rotated',
        actor,
        target: { type: 'signing_key', id: next.kid },
        details: { alg, previous_kid: current.kid, current_kid: next.kid, next_kid: key.kid, retired_now: withdrawn },
      });
      if (withdrawn) {
        await recordAudit(trx, ctx, {
          action: 'iam.key.retired',
          actor,
          target: { type: 'signing_key', id: current.kid },
          details: { alg, withdrawn: true },
        });
      }
      done.push({ alg, current: next.kid, retired: current.kid, next: key.kid, withdrawn });
    }
    return done;
  });
  ctx.keys.invalidate();
  return rotations;
}
