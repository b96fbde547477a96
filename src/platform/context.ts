import type { Logger } from 'pino';
import type { KeyStore } from '../oauth/keys/signing-keys.js';
import type { Config } from './config.js';
import type { PasswordHasher } from './crypto/passwords.js';
import type { Db } from './db/database.js';
import type { Clock, IdGenerator } from './ids.js';
import type { UserAccess } from './ports/user-access.js';

/** Everything a domain function may use, wired once at start (STYLE §3, §7). */
export interface AppContext {
  config: Config;
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  passwords: PasswordHasher;
  keys: KeyStore;
  masterKey: Buffer;
  log: Logger;
  /** Ends every way a user is signed in, for authn/ (src/platform/ports/user-access.ts). */
  access: UserAccess;
}
