import { isIP } from 'node:net';
import { type ConnectionOptions, checkServerIdentity } from 'node:tls';
import { Client, type Entry, InvalidCredentialsError, InvalidDNSyntaxError, ResultCodeError } from 'ldapts';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { applicationDestinations, hostOf, resolveHost } from '../../platform/http/destinations.js';
import { guardAttempt } from '../protection/guard.js';
import { escapeDnValue, escapeFilterValue, fillTemplate, firstRdnValue, guidString } from './ldap-names.js';
import { type Connection, FederationError, type PasswordStrategy, type UpstreamProfile } from './strategy.js';

/**
 * The `ad` strategy: LDAP / Active Directory (docs/federation.md#ad). The proof is a simple
 * bind AS THE USER with the password they typed, over ldaps:// or StartTLS checked against
 * the connection's CA. The user's entry is found by a DN template, or by a search as a
 * service account (`bind_dn` + secret `bind_password`); Gatehouse never binds anonymously,
 * never sends an empty password (an unauthenticated bind succeeds on many directories:
 * decision 257) and never stores the password. Every attempt goes through the brute-force
 * guard like a local password (decision 259).
 */
export const ldapStrategy: PasswordStrategy = {
  kind: 'password',
  authenticate,
};

export const DEFAULT_USER_FILTER = '(|(uid={username})(sAMAccountName={username})(userPrincipalName={username})(mail={username}))';
const GROUP_FILTER = '(|(member={dn})(uniqueMember={dn}))';
/** What is read of the user's entry (never `*`: a user may read their own userPassword). */
const USER_ATTRIBUTES = [
  'mail',
  'cn',
  'givenName',
  'sn',
  'displayName',
  'uid',
  'sAMAccountName',
  'userPrincipalName',
  'entryUUID',
  'objectGUID',
  'memberOf',
];
const MAX_USERNAME = 256;
const MAX_GROUPS = 1000;
const DEFAULT_TIMEOUT_SECONDS = 5;

interface Settings {
  url: URL;
  starttls: boolean;
  ca?: string;
  baseDn: string;
  groupBaseDn: string;
  userDnTemplate?: string;
  service?: { dn: string; password: string };
  userFilter: string;
  emailsVerified: boolean;
  timeoutMs: number;
}

async function authenticate(
  ctx: AppContext,
  connection: Connection,
  input: { username: string; password: string; actor?: { ip: string | null } },
): Promise<UpstreamProfile> {
  const settings = settingsOf(connection);
  const username = input.username.trim();
  // A malformed username names nobody: refused before the guard and the directory alike.
  if (!username || username.length > MAX_USERNAME || hasControlCharacter(username)) throw wrongCredentials();
  let profile = null as UpstreamProfile | null;
  try {
    await guardAttempt(
      ctx,
      'password',
      // The counters of `ann` at this connection are not those of a local account `ann`.
      { userId: null, login: `${connection.id}:${username}`, ip: input.actor?.ip ?? null, tenantId: connection.tenantId },
      async () => {
        // Never to a bind: with an empty password it is an unauthenticated bind, which many directories let in.
        if (input.password.trim() === '') return false;
        profile = await signIn(ctx, settings, username, input.password);
        return profile !== null;
      },
      () => new AppError('invalid_credentials', 'Wrong username or password'),
    );
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_credentials') throw wrongCredentials();
    throw error; // too_many_attempts (429), or a FederationError (not counted: the person typed nothing wrong)
  }
  if (!profile) throw wrongCredentials(); // unreachable: the guard passed only when the bind did
  return profile;
}

/** NUL and the other C0 controls, and DEL: never part of a username. */
const hasControlCharacter = (value: string) => [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

const wrongCredentials = () => new FederationError('wrong_credentials', 'Wrong username or password');

/** The connection's options, checked (what the admin API lets through is checked again here). */
export function settingsOf(connection: Connection): Settings {
  const { options, secrets } = connection;
  const bad = (reason: string) => new FederationError('misconfigured', `ad connection ${connection.name}: ${reason}`);
  const text = (key: string) => {
    const value = options[key];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw bad(`${key} must be a string`);
    return value;
  };
  const rawUrl = text('url');
  if (!rawUrl || !URL.canParse(rawUrl)) throw bad('url must be an ldap:// or ldaps:// URL');
  const url = new URL(rawUrl);
  if ((url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') || !url.hostname || url.username || url.password) {
    throw bad('url must be an ldap:// or ldaps:// URL with a host and no credentials');
  }
  const starttls = options.starttls === true;
  if (starttls && url.protocol === 'ldaps:') throw bad('starttls is for ldap:// URLs (ldaps:// is TLS already)');
  const baseDn = text('base_dn');
  if (!baseDn) throw bad('base_dn is required');
  const userDnTemplate = text('user_dn_template');
  const bindDn = text('bind_dn');
  if (userDnTemplate && !userDnTemplate.includes('{username}')) throw bad('user_dn_template must contain {username}');
  if (bindDn && !secrets.bind_password) throw bad('bind_dn needs the secret bind_password');
  // Gatehouse never searches anonymously: a template, or a service account.
  if (!userDnTemplate && !bindDn) throw bad('user_dn_template, or bind_dn with bind_password, is required');
  const userFilter = text('user_filter') ?? DEFAULT_USER_FILTER;
  if (!userFilter.includes('{username}')) throw bad('user_filter must contain {username}');
  const timeout = options.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (typeof timeout !== 'number' || !(timeout >= 1 && timeout <= 30)) throw bad('timeout_seconds must be a number from 1 to 30');
  const ca = text('ca');
  return {
    url,
    starttls,
    ...(ca && { ca }),
    baseDn,
    groupBaseDn: text('group_base_dn') ?? baseDn,
    ...(userDnTemplate && { userDnTemplate }),
    ...(!userDnTemplate && bindDn && { service: { dn: bindDn, password: secrets.bind_password as string } }),
    userFilter,
    emailsVerified: options.emails_verified === true,
    timeoutMs: timeout * 1000,
  };
}

/**
 * Connects, finds the user, binds as the user and reads the entry and groups. Null when the
 * directory refused the user's credentials (or knows no such user); FederationError for
 * anything else. The connection is always unbound and closed.
 */
async function signIn(ctx: AppContext, settings: Settings, username: string, password: string): Promise<UpstreamProfile | null> {
  const { client, tls } = await connect(ctx, settings);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FederationError('unreachable', 'the directory did not answer in time')), settings.timeoutMs * 3);
  });
  const work = (async () => {
    if (settings.starttls) await client.startTLS(tls);
    return settings.userDnTemplate ? byTemplate(client, settings, username, password) : bySearch(client, settings, username, password);
  })();
  work.catch(() => {}); // after the deadline, its rejection is nobody's
  try {
    const found = await Promise.race([work, deadline]);
    return found && profileOf(settings, found.entry, found.groups);
  } catch (error) {
    throw failureOf(error);
  } finally {
    clearTimeout(timer);
    await client.unbind().catch(() => {});
  }
}

type Found = { entry: Entry; groups: Entry[] } | null;

/** `user_dn_template`: bind as the DN the template names, then read the entry and groups as the user. */
async function byTemplate(client: Client, settings: Settings, username: string, password: string): Promise<Found> {
  const dn = fillTemplate(settings.userDnTemplate as string, username, escapeDnValue);
  if (!(await bindAs(client, dn, password))) return null;
  const { searchEntries } = await client.search(dn, {
    scope: 'base',
    attributes: USER_ATTRIBUTES,
    explicitBufferAttributes: ['objectGUID'],
  });
  const entry = searchEntries[0] ?? { dn };
  return { entry, groups: await groupsOf(client, settings, entry) };
}

/** A service account: bind as it, find exactly one entry, read its groups, then bind as the user (the proof). */
async function bySearch(client: Client, settings: Settings, username: string, password: string): Promise<Found> {
  const service = settings.service as { dn: string; password: string };
  try {
    await client.bind(service.dn, service.password);
  } catch (error) {
    if (error instanceof InvalidCredentialsError)
      throw new FederationError('misconfigured', 'the directory refused the service account (bind_dn)');
    throw error;
  }
  const { searchEntries } = await client.search(settings.baseDn, {
    scope: 'sub',
    filter: fillTemplate(settings.userFilter, username, escapeFilterValue),
    attributes: USER_ATTRIBUTES,
    explicitBufferAttributes: ['objectGUID'],
    sizeLimit: 2,
  });
  // None: no such user. Two: the username is ambiguous, and guessing which one is meant is not a proof.
  const [entry] = searchEntries;
  if (!entry || searchEntries.length !== 1) return null;
  const groups = await groupsOf(client, settings, entry);
  return (await bindAs(client, entry.dn, password)) ? { entry, groups } : null;
}

/** A simple bind; false when the directory says the credentials are wrong (result 49) or the DN is not one. */
async function bindAs(client: Client, dn: string, password: string): Promise<boolean> {
  if (password.trim() === '') return false; // never an unauthenticated bind (decision 257)
  try {
    await client.bind(dn, password);
    return true;
  } catch (error) {
    if (error instanceof InvalidCredentialsError || error instanceof InvalidDNSyntaxError) return false;
    throw error;
  }
}

/** The groups: the entry's `memberOf` when the directory keeps it (Active Directory, OpenLDAP's memberof overlay), else a search. */
async function groupsOf(client: Client, settings: Settings, entry: Entry): Promise<Entry[]> {
  const memberOf = values(entry.memberOf);
  if (memberOf.length > 0) return memberOf.slice(0, MAX_GROUPS).map((dn) => ({ dn }));
  const { searchEntries } = await client.search(settings.groupBaseDn, {
    scope: 'sub',
    filter: GROUP_FILTER.replaceAll('{dn}', () => escapeFilterValue(entry.dn)),
    attributes: ['cn'],
    sizeLimit: MAX_GROUPS,
  });
  return searchEntries;
}

/** Where to connect: the URL's host resolved once and checked against the outbound policy (in production, no internal address unless allowed). */
async function connect(ctx: AppContext, settings: Settings): Promise<{ client: Client; tls: ConnectionOptions }> {
  const host = hostOf(settings.url);
  let addresses: string[];
  try {
    addresses = await resolveHost(host);
  } catch {
    throw new FederationError('unreachable', `the directory's host ${host} does not resolve`);
  }
  const policy = applicationDestinations(ctx.config);
  const address = addresses[0];
  if (!address || addresses.some((a) => !policy.allows(a))) {
    throw new FederationError('misconfigured', `the directory's host ${host} is an internal address that is not allowed`);
  }
  // Connect to the address that was checked; the certificate is still checked against the host's name.
  const tls: ConnectionOptions = {
    ...(settings.ca && { ca: settings.ca }),
    ...(!isIP(host) && { servername: host }),
    checkServerIdentity: (_, cert) => checkServerIdentity(host, cert),
    minVersion: 'TLSv1.2',
  };
  const secure = settings.url.protocol === 'ldaps:';
  const port = settings.url.port || (secure ? '636' : '389');
  const url = `${secure ? 'ldaps' : 'ldap'}://${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
  // ldapts speaks TLS from the first byte whenever tlsOptions is given: only for ldaps:// (StartTLS gets them in startTLS).
  const client = new Client({
    url,
    timeout: settings.timeoutMs,
    connectTimeout: settings.timeoutMs,
    ...(secure && { tlsOptions: tls }),
    strictDN: true,
  });
  return { client, tls };
}

const values = (value: Entry[string] | undefined): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
const first = (entry: Entry, name: string): string | undefined => values(entry[name])[0] || undefined;

/** The person as the directory describes them (docs/federation.md#ad). */
function profileOf(settings: Settings, entry: Entry, groupEntries: Entry[]): UpstreamProfile {
  const guid = Buffer.isBuffer(entry.objectGUID) ? guidString(entry.objectGUID) : undefined;
  // Stable across renames when the directory has an entry UUID; the DN otherwise (it changes on a rename or move).
  const subject = first(entry, 'entryUUID') ?? guid ?? entry.dn;
  const claims: Record<string, unknown> = { dn: entry.dn };
  for (const name of USER_ATTRIBUTES) {
    if (name === 'objectGUID' || name === 'memberOf') continue;
    const list = values(entry[name]);
    if (list.length > 0) claims[name] = list.length === 1 ? list[0] : list;
  }
  if (guid) claims.objectGUID = guid;
  const memberOf = groupEntries.map((g) => g.dn);
  claims.memberOf = memberOf;
  claims.groups = [...new Set(groupEntries.map((g) => first(g, 'cn') ?? firstRdnValue(g.dn)).filter((cn): cn is string => !!cn))];
  const email = first(entry, 'mail');
  const name = first(entry, 'displayName') ?? first(entry, 'cn');
  const givenName = first(entry, 'givenName');
  const familyName = first(entry, 'sn');
  return {
    subject,
    provider: 'ad',
    ...(email && { email }),
    // The directory is the company's: its addresses are trusted only when the connection says so.
    emailVerified: !!email && settings.emailsVerified,
    ...(name && { name }),
    ...(givenName && { givenName }),
    ...(familyName && { familyName }),
    claims,
    mfa: false,
  };
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** Any failure as a FederationError; a raw ldapts or socket error never leaves this module. */
function failureOf(error: unknown): FederationError {
  if (error instanceof FederationError) return error;
  if (error instanceof InvalidCredentialsError) return wrongCredentials();
  if (error instanceof ResultCodeError) {
    // 51 busy, 52 unavailable: the directory is there but not serving.
    if (error.code === 51 || error.code === 52)
      return new FederationError('unreachable', `the directory is unavailable (LDAP result ${error.code})`);
    return new FederationError('provider_error', `the directory answered ${error.name} (LDAP result ${error.code})`);
  }
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : '';
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return new FederationError('unreachable', `the directory is unreachable (${code})`);
    // TLS: an unknown CA, a self-signed or expired certificate, a name mismatch, a failed handshake.
    if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/.test(code)) {
      return new FederationError('unreachable', `the directory's TLS certificate was refused (${code})`);
    }
  }
  if (/timed? ?out|Socket|Connection closed|socket hang up|TLS|SSL/i.test(message)) {
    return new FederationError('unreachable', 'the directory closed the connection or did not answer in time');
  }
  return new FederationError('provider_error', `the directory failed: ${error instanceof Error ? error.name : 'unknown error'}`);
}
