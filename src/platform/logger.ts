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

/**
 * Query parameters whose values are credentials or personal data: OpenID's `id_token_hint`
 * and `login_hint`, the device flow's `user_code`, a code or token in a URL.
 */
const SECRET_QUERY_PARAMS = new Set([
  'id_token_hint',
  'login_hint',
  'user_code',
  'code',
  'token',
  'refresh_token',
  'client_secret',
  'password',
  'username',
]);

/** A request URL as it may be logged: the path, and the query with secret values replaced. */
export function loggableUrl(url: string): string {
  const query = url.indexOf('?');
  if (query < 0) return url;
  const params = new URLSearchParams(url.slice(query + 1));
  for (const name of new Set(params.keys())) if (SECRET_QUERY_PARAMS.has(name)) params.set(name, '[redacted]');
  return `${url.slice(0, query)}?${params.toString().replaceAll('%5Bredacted%5D', '[redacted]')}`;
}

const serializers = {
  req: (request: { method?: string; url?: string; host?: string; hostname?: string; ip?: string }) => ({
    method: request.method,
    url: loggableUrl(request.url ?? ''),
    host: request.host ?? request.hostname,
    remoteAddress: request.ip,
  }),
};

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  return pino({ level: config.logLevel, serializers, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination);
}
