/**
 * What the `ad` strategy (ldap.ts) writes into LDAP names and filters, and reads back out of
 * them. A username is data, never syntax: escaped per RFC 4515 in a filter and per RFC 4514
 * in a DN, so `*`, `)(uid=*` or `x,ou=admins` can only ever name themselves (decision 258).
 */

/** RFC 4515 §3: in a filter's assertion value, `*`, `(`, `)`, `\` and NUL as `\XX` (any other byte may stay). */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * RFC 4514 §2.4: in an attribute value of a DN, `"`, `+`, `,`, `;`, `<`, `>`, `\` and `=`
 * escaped by a backslash, a leading `#` or space and a trailing space too, NUL as `\00`.
 */
export function escapeDnValue(value: string): string {
  const chars = [...value].map((c) => (c === '\0' ? '\\00' : '"+,;<>\\='.includes(c) ? `\\${c}` : c));
  if (value.startsWith('#') || value.startsWith(' ')) chars[0] = `\\${value[0]}`;
  if (value.length > 1 && value.endsWith(' ')) chars[chars.length - 1] = '\\ ';
  return chars.join('');
}

/** The template with every `{username}` replaced by the escaped value (a replacer function: `$&` in a username stays literal). */
export function fillTemplate(template: string, value: string, escapeValue: (value: string) => string): string {
  const escaped = escapeValue(value);
  return template.replaceAll('{username}', () => escaped);
}

/** The value of a DN's first RDN when its attribute is `attribute` (`cn=Ops\2C EU,ou=groups…` → `Ops, EU`); undefined otherwise. */
export function firstRdnValue(dn: string, attribute = 'cn'): string | undefined {
  const equals = dn.indexOf('=');
  if (equals < 0 || dn.slice(0, equals).trim().toLowerCase() !== attribute.toLowerCase()) return undefined;
  const bytes: number[] = [];
  const text = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
  for (let i = equals + 1; i < dn.length; i++) {
    const c = dn[i] as string;
    if (c === ',' || c === '+') break;
    if (c !== '\\') {
      text(c);
      continue;
    }
    const hex = dn.slice(i + 1, i + 3);
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (i + 1 < dn.length) {
      text(dn[i + 1] as string);
      i += 1;
    }
  }
  const value = Buffer.from(bytes).toString('utf8').trim();
  return value || undefined;
}

/**
 * Active Directory's objectGUID (16 bytes) in its usual text form: the first three groups
 * are little-endian (`{3F2504E0-4F89-11D3-9A0C-0305E82C3301}` without braces, lower-case).
 */
export function guidString(bytes: Buffer): string | undefined {
  if (bytes.length !== 16) return undefined;
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = Buffer.from(bytes.subarray(from, to));
    return (reverse ? part.reverse() : part).toString('hex');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-');
}
