import type { Entry } from 'ldapts';
import { firstRdnValue, guidString } from './ldap-names.js';
import type { Settings } from './ldap-settings.js';
import type { UpstreamProfile } from './strategy.js';

/** What is read of the user's entry (never `*`: a user may read their own userPassword). */
export const USER_ATTRIBUTES = [
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

export const values = (value: Entry[string] | undefined): string[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v));
const first = (entry: Entry, name: string): string | undefined => values(entry[name])[0] || undefined;

/** The person as the directory describes them (docs/federation.md#ad). */
export function profileOf(settings: Settings, entry: Entry, groupEntries: Entry[]): UpstreamProfile {
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
