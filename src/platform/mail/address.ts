import { domainToASCII } from 'node:url';
import { type RawBuilder, sql } from 'kysely';
import { AppError } from '../errors.js';

/**
 * The one email address validator (decision 213): the admin API, sign-up, invitations,
 * email change, import, passwordless and recovery starts, and their JSON twins all pass
 * what they are given through it, so one mailbox has one spelling and one account.
 *
 * - Nothing invisible or confusable by construction: control, format (zero-width space,
 *   soft hyphen, bidi marks), private-use and unassigned characters and any space are refused.
 * - The local part is NFKC-normalised (full-width letters become ASCII) and must then be an
 *   ASCII dot-atom: a Cyrillic or Greek homoglyph is refused, not stored beside its twin.
 * - The domain goes through IDNA (UTS 46, node:url's domainToASCII: lower case, punycode) and
 *   loses one trailing dot: `bücher.example`, `BÜCHER.example.` and `xn--bcher-kva.example`
 *   are one domain, stored as the last.
 */
export const MAX_EMAIL_LENGTH = 320;
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;

const INVISIBLE = /[\p{C}\p{Z}]/u;
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** The address's one stored form, or undefined when it is not an address this validator accepts. */
export function parseEmail(raw: string): string | undefined {
  const value = raw.trim();
  if (value.length === 0 || value.length > MAX_EMAIL_LENGTH || INVISIBLE.test(value)) return undefined;
  const at = value.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = value.slice(0, at).normalize('NFKC');
  if (local.length > MAX_LOCAL || !DOT_ATOM.test(local)) return undefined;
  const typed = value.slice(at + 1);
  const domain = domainToASCII(typed.endsWith('.') ? typed.slice(0, -1) : typed);
  if (!domain || domain.length > MAX_DOMAIN) return undefined;
  const labels = domain.split('.');
  // At least a name and a top-level domain; an all-digit last label is an IP address in disguise.
  if (labels.length < 2 || !labels.every((label) => LABEL.test(label)) || /^\d+$/.test(labels.at(-1)!)) return undefined;
  return `${local}@${domain}`;
}

/** The address normalised, or 400 invalid_email. */
export function normalizeEmail(raw: string, field = 'email'): string {
  const email = parseEmail(raw);
  if (!email) throw new AppError('invalid_email', 'Enter a valid email address', { field });
  return email;
}

/** Ajv's `format: 'email'` (src/http/validation.ts): the same rule as the domain functions. */
export const isEmailAddress = (raw: string): boolean => parseEmail(raw) !== undefined;

/**
 * What a typed login is looked up by: its normalised form when it is an address, else the
 * text as typed (a username, or an address stored before the validator that it refuses).
 */
export const loginKey = (login: string): string => parseEmail(login) ?? login.trim();

/**
 * `lower(<column>) = lower(<key>)`: the comparison of every lookup by address, on the column
 * the unique index `users_email_key` covers (PostgreSQL's case folding on both sides).
 */
export function emailIs(login: string, column = 'email'): RawBuilder<boolean> {
  return sql<boolean>`lower(${sql.ref(column)}) = lower(${loginKey(login)})`;
}
