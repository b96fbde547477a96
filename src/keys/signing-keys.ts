import { type CryptoKey, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { sql } from 'kysely';
import { type AuditSource, recordAudit, SYSTEM_ACTOR } from '../audit/record.js';
import { seal, unseal } from '../crypto/secrets.js';
import type { Db } from '../db/database.js';

const ALG = 'RS256';
const SEAL_CONTEXT = 'gatehouse:signing-key';
/** How long a node trusts its in-memory copy of the key set before reading it again. */
const CACHE_MS = 30_000;

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
}

export interface KeyStore {
  /** The key new tokens are signed with. */
  current(): Promise<SigningKey>;
  /** The public JWK Set: every key a token in circulation may be signed with. */
  jwks(): Promise<{ keys: JWK[] }>;
}

/**
 * Creates the first signing key when there is none. Runs under a transaction-scoped
 * advisory lock, so two nodes starting at once create one key, not two.
 */
export async function ensureSigningKey(db: Db, source: AuditSource, masterKey: Buffer): Promise<string | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext('gatehouse:signing-keys'))`.execute(trx);
    const existing = await trx.selectFrom('signing_keys').select('kid').where('status', '=', 'current').executeTakeFirst();
    if (existing) return undefined;
    const { publicKey, privateKey } = await generateKeyPair(ALG, { modulusLength: 2048, extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ALG, use: 'sig' };
    await trx
      .insertInto('signing_keys')
      .values({
        kid,
        alg: ALG,
        status: 'current',
        public_jwk: JSON.stringify({ ...publicJwk, kid, alg: ALG, use: 'sig' }),
        private_jwk_sealed: seal(masterKey, JSON.stringify(privateJwk), `${SEAL_CONTEXT}:${kid}`),
      })
      .execute();
    await recordAudit(trx, source, {
      action: 'iam.key.created',
      actor: SYSTEM_ACTOR,
      target: { type: 'signing_key', id: kid },
      details: { alg: ALG },
    });
    return kid;
  });
}

export function createKeyStore(db: Db, masterKey: Buffer, now: () => number = Date.now): KeyStore {
  let cache: { at: number; current: SigningKey; jwks: { keys: JWK[] } } | undefined;

  async function load() {
    if (cache && now() - cache.at < CACHE_MS) return cache;
    const rows = await db
      .selectFrom('signing_keys')
      .select(['kid', 'alg', 'status', 'public_jwk', 'private_jwk_sealed'])
      .where('status', '!=', 'retired')
      .orderBy('created_at')
      .execute();
    const currentRow = rows.find((row) => row.status === 'current');
    if (!currentRow) throw new Error('No current signing key: run `gatehouse migrate` or start the server once');
    const privateJwk = JSON.parse(unseal(masterKey, currentRow.private_jwk_sealed, `${SEAL_CONTEXT}:${currentRow.kid}`));
    const privateKey = (await importJWK(privateJwk, currentRow.alg)) as CryptoKey;
    cache = {
      at: now(),
      current: { kid: currentRow.kid, alg: currentRow.alg, privateKey },
      jwks: { keys: rows.map((row) => row.public_jwk as JWK) },
    };
    return cache;
  }

  return {
    current: async () => (await load()).current,
    jwks: async () => (await load()).jwks,
  };
}
