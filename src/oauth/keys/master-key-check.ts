import type { Config } from '../../platform/config.js';
import { unseal } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { SEAL_CONTEXT } from './signing-keys.js';

/**
 * A node whose master key is not the one the database was set up with cannot sign, read a
 * connection's secret, or check a client secret: it must not start (decision 304). The
 * signing keys are the canary: every started database holds them, sealed under the master
 * key. One is unsealed before the node listens; a fresh database (no key yet) passes.
 */
export async function assertMasterKeyOpensKeys(db: Db, masterKey: Buffer, config: Pick<Config, 'masterKey' | 'dataDir'>): Promise<void> {
  const row = await db
    .selectFrom('signing_keys')
    .select(['kid', 'private_jwk_sealed'])
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return;
  try {
    unseal(masterKey, row.private_jwk_sealed, `${SEAL_CONTEXT}:${row.kid}`);
  } catch {
    const which = config.masterKey
      ? 'GATEHOUSE_MASTER_KEY'
      : `the development key in ${config.dataDir}/master.key (GATEHOUSE_MASTER_KEY is not set)`;
    throw new AppError(
      'master_key_mismatch',
      `The master key does not open this database's signing keys: ${which} is not the key this database was set up with. ` +
        'Set GATEHOUSE_MASTER_KEY to that key (the one the other nodes use, or the master.key file of the data directory this database was first started with), then start again.',
    );
  }
}
