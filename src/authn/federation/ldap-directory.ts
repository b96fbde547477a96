import { isIP } from 'node:net';
import { type ConnectionOptions, checkServerIdentity } from 'node:tls';
import { Client, type Entry, InvalidCredentialsError, InvalidDNSyntaxError, ResultCodeError } from 'ldapts';
import type { AppContext } from '../../platform/context.js';
import { applicationDestinations, hostOf, resolveHost } from '../../platform/http/destinations.js';
import { escapeDnValue, escapeFilterValue, fillTemplate } from './ldap-names.js';
import { profileOf, USER_ATTRIBUTES, values } from './ldap-profile.js';
import type { Settings } from './ldap-settings.js';
import { FederationError, type UpstreamProfile } from './strategy.js';

/*
 * The directory side of the `ad` strategy (ldap.ts): connect, find the user, bind as them,
 * read the entry and groups, and turn every failure into a FederationError.
 */

const GROUP_FILTER = '(|(member={dn})(uniqueMember={dn}))';
const MAX_GROUPS = 1000;

/**
 * Connects, finds the user, binds as the user and reads the entry and groups. Null when the
 * directory refused the user's credentials (or knows no such user); FederationError for
 * anything else. The connection is always unbound and closed.
 */
export async function signIn(ctx: AppContext, settings: Settings, username: string, password: string): Promise<UpstreamProfile | null> {
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
  try {
    const client = new Client({
      url,
      timeout: settings.timeoutMs,
      connectTimeout: settings.timeoutMs,
      ...(secure && { tlsOptions: tls }),
      strictDN: true,
    });
    return { client, tls };
  } catch {
    throw new FederationError('misconfigured', `ldapts cannot use the URL ${settings.url.protocol}//${host}`);
  }
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
  if (error instanceof InvalidCredentialsError) return new FederationError('wrong_credentials', 'Wrong username or password');
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
