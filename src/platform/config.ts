import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { isEmailAddress } from './mail/address.js';

/**
 * The one validated configuration object, built once at start (docs/operations.md#configuration).
 * Nothing else in the code base reads `process.env`.
 */
export interface Config {
  production: boolean;
  port: number;
  host: string;
  /** Public base URL without a trailing slash: every URL Gatehouse builds starts with it. */
  issuer: string;
  /**
   * The `iss` of every token and the discovery document's `issuer`: GATEHOUSE_ISSUER as
   * given, so `https://login.example.com/` (Auth0's form, with its trailing slash) is kept
   * for the applications and SDKs that compare it exactly (decision 385).
   */
  tokenIssuer: string;
  /** PostgreSQL URL, or undefined for the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Where retention writes the audit events it deletes (default: `<dataDir>/audit-archive`). */
  auditArchiveDir: string;
  /** 32 bytes; undefined means "generate into the data dir" (development only). */
  masterKey: Buffer | undefined;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  smtpUrl: string | undefined;
  /** The From of every message Gatehouse sends. */
  smtpFrom: string;
  amqpUrl: string | undefined;
  redisUrl: string | undefined;
  /**
   * What brute-force protection does while Redis is unreachable (decision 313): `fallback`
   * counts in PostgreSQL (a warning once per outage), `closed` refuses the attempt with 503.
   */
  redisFailure: 'fallback' | 'closed';
  /** Where SMS one-time codes are POSTed as JSON `{to, body}`; unset: the development outbox (not in production). */
  smsWebhookUrl: string | undefined;
  /**
   * Where each CAPTCHA provider's answers are verified (bot defence, docs/operations.md#bot-defence):
   * the provider's documented siteverify URL unless set; a tenant's policy may name its own.
   */
  captchaVerifyUrls: { turnstile: string; hcaptcha: string; recaptcha: string };
  /** Have I Been Pwned's range API (the password policy's optional breach check). */
  hibpUrl: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Which proxies' X-Forwarded-For to believe: none (false), any (true), or these addresses/CIDRs. */
  trustProxy: boolean | string[];
  /** Passphrase of `gatehouse backup` / `restore` (never a command-line argument: `ps` shows those). */
  backupPassphrase: string | undefined;
  /** Passphrase of `gatehouse users export` / `users import` of an export (likewise never an argument). */
  exportPassphrase: string | undefined;
  /** CIDRs that webhook destinations may be in although they are internal (loopback, private, ...). */
  webhookAllowedNetworks: string[];
  /**
   * On SIGTERM, how long a node watched through /readyz goes on serving after it turned
   * unready, so its load balancer takes it out first (docs/operations.md#stopping-a-node).
   */
  shutdownGraceSeconds: number;
  /** RFC 8693 token exchange at /oauth/token (delegation and impersonation); on unless `false` (decision 430). */
  tokenExchange: boolean;
  /** How long an administrator's impersonation of a user lasts, in seconds: at most 900 (15 minutes), lowered, never raised (decision 433). */
  impersonationTtlSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Environment variable names, each with its key in a `--config` JSON file. */
const KEYS = {
  GATEHOUSE_PORT: 'port',
  GATEHOUSE_HOST: 'host',
  GATEHOUSE_ISSUER: 'issuer',
  GATEHOUSE_DATABASE_URL: 'databaseUrl',
  GATEHOUSE_DATA_DIR: 'dataDir',
  GATEHOUSE_AUDIT_ARCHIVE_DIR: 'auditArchiveDir',
  GATEHOUSE_MASTER_KEY: 'masterKey',
  GATEHOUSE_ADMIN_EMAIL: 'adminEmail',
  GATEHOUSE_ADMIN_PASSWORD: 'adminPassword',
  GATEHOUSE_SMTP_URL: 'smtpUrl',
  GATEHOUSE_SMTP_FROM: 'smtpFrom',
  GATEHOUSE_AMQP_URL: 'amqpUrl',
  GATEHOUSE_REDIS_URL: 'redisUrl',
  GATEHOUSE_REDIS_FAILURE: 'redisFailure',
  GATEHOUSE_SMS_WEBHOOK_URL: 'smsWebhookUrl',
  GATEHOUSE_HIBP_URL: 'hibpUrl',
  GATEHOUSE_TURNSTILE_VERIFY_URL: 'turnstileVerifyUrl',
  GATEHOUSE_HCAPTCHA_VERIFY_URL: 'hcaptchaVerifyUrl',
  GATEHOUSE_RECAPTCHA_VERIFY_URL: 'recaptchaVerifyUrl',
  GATEHOUSE_LOG_LEVEL: 'logLevel',
  GATEHOUSE_TRUST_PROXY: 'trustProxy',
  GATEHOUSE_BACKUP_PASSPHRASE: 'backupPassphrase',
  GATEHOUSE_EXPORT_PASSPHRASE: 'exportPassphrase',
  GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS: 'webhookAllowedNetworks',
  GATEHOUSE_SHUTDOWN_GRACE: 'shutdownGraceSeconds',
  GATEHOUSE_TOKEN_EXCHANGE: 'tokenExchange',
  GATEHOUSE_IMPERSONATION_TTL: 'impersonationTtlSeconds',
} as const;

type RawConfig = Partial<Record<(typeof KEYS)[keyof typeof KEYS], string>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads the `--config` file (if any) and the environment; the environment wins. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, configFile?: string): Config {
  const raw: RawConfig = {};
  if (configFile) Object.assign(raw, readConfigFile(configFile));
  for (const [name, key] of Object.entries(KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  return parseConfig(raw, env.NODE_ENV === 'production');
}

function readConfigFile(path: string): RawConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`--config ${path}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`--config ${path}: expected a JSON object`);
  }
  const known = new Set<string>(Object.values(KEYS));
  const raw: RawConfig = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!known.has(key)) throw new ConfigError(`--config ${path}: unknown key "${key}"`);
    raw[key as keyof RawConfig] = String(value);
  }
  return raw;
}

export function parseConfig(raw: RawConfig, production: boolean): Config {
  const port = parsePort(raw.port ?? '3000');
  const issuer = parseIssuer(raw.issuer ?? `http://localhost:${port}`);
  // One trailing slash is kept for `iss` (Auth0's issuers end with one; decision 385).
  const tokenIssuer = raw.issuer?.endsWith('/') ? `${issuer}/` : issuer;
  const logLevel = (raw.logLevel ?? 'info') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`GATEHOUSE_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const masterKey = raw.masterKey === undefined ? undefined : parseMasterKey(raw.masterKey);
  if (production && !masterKey) {
    throw new ConfigError('GATEHOUSE_MASTER_KEY is required when NODE_ENV=production (32 random bytes, base64)');
  }
  if (raw.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(raw.databaseUrl)) {
    throw new ConfigError('GATEHOUSE_DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  for (const [name, value] of [
    ['GATEHOUSE_SMTP_URL', raw.smtpUrl],
    ['GATEHOUSE_AMQP_URL', raw.amqpUrl],
    ['GATEHOUSE_REDIS_URL', raw.redisUrl],
    ['GATEHOUSE_SMS_WEBHOOK_URL', raw.smsWebhookUrl],
    ['GATEHOUSE_HIBP_URL', raw.hibpUrl],
    ['GATEHOUSE_TURNSTILE_VERIFY_URL', raw.turnstileVerifyUrl],
    ['GATEHOUSE_HCAPTCHA_VERIFY_URL', raw.hcaptchaVerifyUrl],
    ['GATEHOUSE_RECAPTCHA_VERIFY_URL', raw.recaptchaVerifyUrl],
  ] as const) {
    if (value !== undefined && !URL.canParse(value)) throw new ConfigError(`${name} is not a valid URL`);
  }
  if (production && raw.smtpUrl === undefined) {
    throw new ConfigError(
      'GATEHOUSE_SMTP_URL is required when NODE_ENV=production: lockout notices, codes and links are sent by email (e.g. smtp://user:pass@mail.example.com:587)',
    );
  }
  const redisFailure = raw.redisFailure ?? 'fallback';
  if (redisFailure !== 'fallback' && redisFailure !== 'closed') {
    throw new ConfigError(`GATEHOUSE_REDIS_FAILURE must be fallback or closed, got "${redisFailure}"`);
  }
  if (raw.adminEmail !== undefined && !isEmailAddress(raw.adminEmail)) {
    throw new ConfigError('GATEHOUSE_ADMIN_EMAIL is not an email address');
  }
  return {
    production,
    port,
    host: raw.host ?? '127.0.0.1',
    issuer,
    tokenIssuer,
    databaseUrl: raw.databaseUrl,
    dataDir: resolve(raw.dataDir ?? './data'),
    auditArchiveDir: resolve(raw.auditArchiveDir ?? join(raw.dataDir ?? './data', 'audit-archive')),
    masterKey,
    adminEmail: raw.adminEmail,
    adminPassword: raw.adminPassword,
    smtpUrl: raw.smtpUrl,
    smtpFrom: raw.smtpFrom ?? `Gatehouse <no-reply@${new URL(issuer).hostname}>`,
    amqpUrl: raw.amqpUrl,
    redisUrl: raw.redisUrl,
    redisFailure,
    smsWebhookUrl: raw.smsWebhookUrl,
    hibpUrl: (raw.hibpUrl ?? 'https://api.pwnedpasswords.com').replace(/\/+$/, ''),
    captchaVerifyUrls: {
      turnstile: verifyUrl(
        'GATEHOUSE_TURNSTILE_VERIFY_URL',
        raw.turnstileVerifyUrl,
        'https://challenges.cloudflare.com/turnstile/v0/siteverify',
      ),
      hcaptcha: verifyUrl('GATEHOUSE_HCAPTCHA_VERIFY_URL', raw.hcaptchaVerifyUrl, 'https://api.hcaptcha.com/siteverify'),
      recaptcha: verifyUrl('GATEHOUSE_RECAPTCHA_VERIFY_URL', raw.recaptchaVerifyUrl, 'https://www.google.com/recaptcha/api/siteverify'),
    },
    logLevel,
    trustProxy: parseTrustProxy(raw.trustProxy),
    backupPassphrase: raw.backupPassphrase,
    exportPassphrase: raw.exportPassphrase,
    webhookAllowedNetworks: parseNetworks(raw.webhookAllowedNetworks),
    shutdownGraceSeconds: parseGrace(raw.shutdownGraceSeconds),
    tokenExchange: parseSwitch('GATEHOUSE_TOKEN_EXCHANGE', raw.tokenExchange, true),
    impersonationTtlSeconds: parseImpersonationTtl(raw.impersonationTtlSeconds),
  };
}

/** A comma list of CIDRs (`127.0.0.1/32,10.1.0.0/16,fd00::/8`); a bare address is its own /32 or /128. */
function parseNetworks(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return [];
  return value.split(',').map((entry) => {
    const [address = '', prefix, extra] = entry.trim().split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const bits = prefix === undefined ? max : Number(prefix);
    if (!family || extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) || bits > max) {
      throw new ConfigError(`GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS: "${entry.trim()}" is not an IP address or CIDR range`);
    }
    return `${address}/${bits}`;
  });
}

/** A CAPTCHA verify URL: http(s) only (the check above has parsed it), the provider's own when unset. */
function verifyUrl(name: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  const { protocol } = new URL(value);
  if (protocol !== 'https:' && protocol !== 'http:') throw new ConfigError(`${name} must be an http(s) URL`);
  return value;
}

function parseTrustProxy(value: string | undefined): boolean | string[] {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  const entries = value.split(',').map((entry) => entry.trim());
  if (entries.some((entry) => !/^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(entry))) {
    throw new ConfigError('GATEHOUSE_TRUST_PROXY must be true, false, or a comma-separated list of IP addresses or CIDR ranges');
  }
  return entries;
}

function parseGrace(value: string | undefined): number {
  if (value === undefined) return 3;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds > 300) {
    throw new ConfigError(`GATEHOUSE_SHUTDOWN_GRACE must be a number of seconds from 0 to 300, got "${value}"`);
  }
  return seconds;
}

function parseSwitch(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new ConfigError(`${name} must be true or false, got "${value}"`);
}

/** The longest an impersonation may last (decision 433): a deployment shortens it, never lengthens it. */
export const MAX_IMPERSONATION_TTL_S = 900;

function parseImpersonationTtl(value: string | undefined): number {
  if (value === undefined) return MAX_IMPERSONATION_TTL_S;
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < 60 || seconds > MAX_IMPERSONATION_TTL_S) {
    throw new ConfigError(
      `GATEHOUSE_IMPERSONATION_TTL must be a whole number of seconds from 60 to ${MAX_IMPERSONATION_TTL_S}, got "${value}"`,
    );
  }
  return seconds;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`GATEHOUSE_PORT must be an integer from 0 to 65535, got "${value}"`);
  }
  return port;
}

function parseIssuer(value: string): string {
  if (!URL.canParse(value)) throw new ConfigError(`GATEHOUSE_ISSUER is not a valid URL: "${value}"`);
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError('GATEHOUSE_ISSUER must be an http(s) URL');
  }
  if (url.search || url.hash) throw new ConfigError('GATEHOUSE_ISSUER must not have a query or fragment');
  return value.replace(/\/+$/, '');
}

export function parseMasterKey(value: string): Buffer {
  const key = Buffer.from(value, 'base64');
  if (key.length !== 32) {
    throw new ConfigError('GATEHOUSE_MASTER_KEY must be 32 random bytes, base64-encoded (openssl rand -base64 32)');
  }
  return key;
}
