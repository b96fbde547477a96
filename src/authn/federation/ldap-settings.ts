import type { Connection } from './strategy.js';
import { FederationError } from './strategy.js';

/** The `ad` connection's options as the strategy uses them (docs/federation.md#ad). */
export interface Settings {
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

export const DEFAULT_USER_FILTER = '(|(uid={username})(sAMAccountName={username})(userPrincipalName={username})(mail={username}))';
const DEFAULT_TIMEOUT_SECONDS = 5;

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
  // The entry is read at the templated name: it must be a DN (Active Directory's `user@domain` is not; use a service account).
  if (userDnTemplate && !/^[^=,]+=/.test(userDnTemplate)) throw bad('user_dn_template must be a DN (uid={username},ou=people,…)');
  if (bindDn && !secrets.bind_password) throw bad('bind_dn needs the secret bind_password');
  // Gatehouse never searches anonymously: a template, or a service account.
  if (!userDnTemplate && !bindDn) throw bad('user_dn_template, or bind_dn with bind_password, is required');
  const userFilter = text('user_filter') ?? DEFAULT_USER_FILTER;
  if (!userFilter.includes('{username}')) throw bad('user_filter must contain {username}');
  const timeout = options.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (typeof timeout !== 'number' || !(timeout >= 1 && timeout <= 30)) throw bad('timeout_seconds must be a number from 1 to 30');
  const ca = text('ca');
  // A CA is given to verify TLS: on a plain ldap:// connection it would be silently unused.
  if (ca && url.protocol === 'ldap:' && !starttls) throw bad('ca is for ldaps:// or starttls: true');
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
