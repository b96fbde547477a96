import type { Logger } from 'pino';
import type { KeyStore } from '../oauth/keys/signing-keys.js';
import type { Config } from './config.js';
import type { PasswordHasher } from './crypto/passwords.js';
import type { Db } from './db/database.js';
import type { Clock, IdGenerator } from './ids.js';

/** Everything a domain function may use, wired once at start (docs/architecture.md#the-context). */
export interface AppContext {
  config: Config;
  db: Db;
  clock: Clock;
  ids: IdGenerator;
  passwords: PasswordHasher;
  keys: KeyStore;
  masterKey: Buffer;
  log: Logger;
}
