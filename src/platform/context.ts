import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { PasswordHasher } from './crypto/passwords.js';
import type { ChangeFeed } from './db/change-feed.js';
import type { Db } from './db/database.js';
import type { Clock, IdGenerator } from './ids.js';
import type { ActionRunner } from './ports/actions.js';
import type { Authenticator } from './ports/authenticator.js';
import type { Mailer } from './ports/mailer.js';
import type { Protection } from './ports/protection.js';
import type { KeyStore } from './ports/signing-keys.js';
import type { UserAccess } from './ports/user-access.js';

/**
 * Everything a domain function may use, wired once at start by src/main/gatehouse.ts
 * (createContext), the one place that builds it (docs/architecture.md#the-context). The ports are interfaces declared in
 * src/platform/ports/ and implemented in their layers, so platform/ imports nothing above it
 * (docs/architecture.md#layers); a module reaches a service through the context, never
 * through a lookup of its own.
 */
export interface AppContext {
  config: Config;
  db: Db;
  /** Committed changes of any node, which drop this node's caches (src/platform/db/change-feed.ts). */
  changes: ChangeFeed;
  clock: Clock;
  ids: IdGenerator;
  passwords: PasswordHasher;
  masterKey: Buffer;
  log: Logger;
  /** The signing keys (src/oauth/keys/signing-keys.ts). */
  keys: KeyStore;
  /** The brute-force counters and this node's refusal memory (src/authn/protection/). */
  protection: Protection;
  /** Outgoing mail (src/platform/mail/smtp.ts); the email queue hands it what is due. */
  mailer: Mailer;
  /** Session and access tokens to who is calling, for the HTTP guards (src/authn/sessions/, src/oauth/tokens/). */
  authenticator: Authenticator;
  /** Ends every way a user is signed in, for authn/ (src/platform/ports/user-access.ts). */
  access: UserAccess;
  /** Runs the actions bound to a trigger (src/ops/actions/; call `runTrigger` from ports/actions.ts). */
  actions: ActionRunner;
}
