import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.js';

/** Fields that may hold a secret; pino replaces them before anything is written. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.token',
  '*.secret',
  '*.password_hash',
  // Database errors carry the statement and its parameters (a password hash, say).
  'err.params',
  'err.parameters',
  'err.query',
];

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  return pino({ level: config.logLevel, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination);
}
