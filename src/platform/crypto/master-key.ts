import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type Config, parseMasterKey } from '../config.js';

/**
 * The master key seals secrets at rest. Production must pass GATEHOUSE_MASTER_KEY
 * (config validation enforces it); in development one is generated into the data
 * directory once, with a loud warning, so `npm start` works on a bare machine.
 */
export function resolveMasterKey(config: Config, log: Logger): Buffer {
  if (config.masterKey) return config.masterKey;
  const path = join(config.dataDir, 'master.key');
  if (existsSync(path)) {
    log.warn({ path }, 'Using the development master key from the data directory; set GATEHOUSE_MASTER_KEY in production');
    return parseMasterKey(readFileSync(path, 'utf8').trim());
  }
  mkdirSync(config.dataDir, { recursive: true });
  try {
    writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process created it a moment ago: use that one.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return parseMasterKey(readFileSync(path, 'utf8').trim());
  }
  log.warn(
    { path },
    'GATEHOUSE_MASTER_KEY is not set: generated a development master key. Back it up with the data; set GATEHOUSE_MASTER_KEY in production',
  );
  return parseMasterKey(readFileSync(path, 'utf8').trim());
}
