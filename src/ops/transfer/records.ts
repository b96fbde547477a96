import { type MetadataField, metadataProblem } from '../../directory/users/metadata.js';
import type { Profile } from '../../directory/users/users.js';
import { classifyHash, firebaseScryptHash } from '../../platform/crypto/legacy-hashes.js';
import type { UserStatus } from '../../platform/db/schema.js';
import { parseEmail } from '../../platform/mail/address.js';
import { type Envelope, isEncrypted } from './envelope.js';

/**
 * The per-record error codes of an import (docs/api.md): a bad record is reported with its
 * line and one of these, and the others are imported.
 */
export const LINE_ERRORS = {
  malformed_json: 'The line is not a JSON object',
  invalid_record: 'A field has the wrong type or value',
  missing_email: 'The record has no email address',
  invalid_email: 'The email address is not valid',
  metadata_too_large: 'app_metadata or user_metadata is over 16 KB of JSON',
  unknown_hash_format: 'The password hash is in no format Gatehouse can verify',
  hash_too_expensive: 'The password hash’s parameters exceed the work bounds of a sign-in (docs/api.md)',
  invalid_factor: 'An MFA factor is malformed',
  encrypted_value: 'An encrypted value cannot be decrypted (altered, or from another file)',
  duplicate_email: 'An earlier line of this file has the same email address',
  username_taken: 'Another user has this username',
  unknown_tenant: 'No such tenant',
  unknown_role: 'No such role in the tenant',
  unknown_group: 'No such group in the tenant',
  tenant_not_allowed: 'A tenant administrator imports into the own tenant only',
  not_home_tenant: 'The existing user’s home tenant is one the caller does not administer',
  member_elsewhere: 'The existing user is also a member of a tenant where the caller is not an administrator above them',
  update_not_allowed: 'The record matches an existing user, and changing users needs the update permission',
  verified_not_allowed: 'A tenant administrator cannot mark an email address or phone number verified',
  forbidden: 'The caller may not change this user',
  restricted_permission: 'Roles with restricted permissions are assigned by system administrators only',
  write_failed: 'The record could not be written',
  // Definition lines (tenants, permissions, roles) of an export.
  invalid_definition: 'A tenant, permission or role definition is malformed, or could not be created',
} as const;

export type LineErrorCode = keyof typeof LINE_ERRORS;

export class LineError extends Error {
  constructor(
    readonly code: LineErrorCode,
    message: string = LINE_ERRORS[code],
  ) {
    super(message);
  }
}

export type ImportFactor =
  | { type: 'otp'; secret: string }
  | { type: 'sms' | 'email'; destination: string }
  | {
      type: 'webauthn';
      name: string | null;
      credential_id: string;
      public_key: string;
      sign_count: number;
      transports: string[];
      amr: string | null;
    };

/** One user as the import writes it: only the fields the record gives are set on an existing user. */
export interface ImportRecord extends Profile {
  line: number;
  email: string;
  username?: string | null;
  email_verified?: boolean;
  /** Auth0's `phone_verified`, Cognito's `phone_number_verified`. */
  phone_verified?: boolean;
  status?: UserStatus;
  app_metadata?: Record<string, unknown>;
  password_hash?: string;
  /** Tenant slug or id; default: the first membership's tenant (or the caller's in tenant scope). */
  home_tenant?: string;
  /** Memberships, with role names (or ids); none given: USER. With the names of the tenant's groups the user is in (decision 368). */
  tenants: { tenant: string; roles: string[] | undefined; groups?: string[] | undefined }[];
  factors: ImportFactor[] | undefined;
}

const BASE32 = /^[A-Z2-7]+=*$/;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function text(record: Record<string, unknown>, key: string, max = 1024): string | null | undefined {
  const value = record[key];
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value !== 'string' || value.length > max)
    throw new LineError('invalid_record', `"${key}" must be a string of at most ${max} characters`);
  return value;
}

function object(record: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const value = record[key];
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new LineError('invalid_record', `"${key}" must be an object`);
  return value;
}

/** A user's metadata object, within its 16 KB (src/directory/users/metadata.ts). */
function metadata(record: Record<string, unknown>, key: MetadataField): Record<string, unknown> | undefined {
  const value = object(record, key);
  const problem = value === undefined ? undefined : metadataProblem(key, value);
  if (problem) throw new LineError('metadata_too_large', problem);
  return value;
}

function checkEmail(value: unknown): string {
  if (value === undefined || value === null || value === '') throw new LineError('missing_email');
  const email = typeof value === 'string' ? parseEmail(value) : undefined;
  if (!email) throw new LineError('invalid_email');
  return email;
}

export function checkHash(hash: string): string {
  const kind = classifyHash(hash);
  if (kind === 'unknown') throw new LineError('unknown_hash_format');
  if (kind === 'too_expensive') throw new LineError('hash_too_expensive');
  return hash;
}

/**
 * Auth0's `custom_password_hash`: bcrypt, argon2 and pbkdf2 carry a whole hash string in
 * `hash.value`; `firebase-scrypt` (our extension) takes the project's parameters beside it.
 * Auth0's other algorithms (md5, sha*, hmac, ldap, md4) are `unknown_hash_format`.
 */
function customHash(custom: Record<string, unknown>): string {
  const hash = isObject(custom.hash) ? custom.hash : {};
  const value = typeof hash.value === 'string' ? hash.value : '';
  switch (custom.algorithm) {
    case 'bcrypt':
    case 'argon2':
    case 'pbkdf2':
      return checkHash(value);
    case 'firebase-scrypt': {
      const salt = isObject(custom.salt) ? custom.salt.value : undefined;
      const key = isObject(custom.key) ? custom.key.value : isObject(hash.key) ? hash.key.value : undefined;
      const { salt_separator: separator, rounds, mem_cost: memCost } = custom;
      if (typeof salt !== 'string' || typeof key !== 'string' || typeof separator !== 'string') throw new LineError('unknown_hash_format');
      if (typeof rounds !== 'number' || typeof memCost !== 'number') throw new LineError('unknown_hash_format');
      return checkHash(firebaseScryptHash({ signerKey: key, saltSeparator: separator, rounds, memCost, salt, hash: value }));
    }
    default:
      throw new LineError('unknown_hash_format', `Unsupported custom_password_hash algorithm ${JSON.stringify(custom.algorithm)}`);
  }
}

/** A secret that is clear text in an Auth0 file, or `{enc}` in a Gatehouse export (bound to the line's email). */
function secret(value: unknown, field: string, email: string, envelope: Envelope | undefined): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (isEncrypted(value) && envelope) {
    try {
      return envelope.decrypt(field, email, value);
    } catch {
      throw new LineError('encrypted_value');
    }
  }
  throw new LineError('invalid_record', `"${field}" must be a string`);
}

function factors(
  list: unknown,
  extension: Record<string, unknown>,
  email: string,
  envelope: Envelope | undefined,
): ImportFactor[] | undefined {
  const webauthn = extension.webauthn;
  if (list === undefined && webauthn === undefined) return undefined;
  if ((list !== undefined && !Array.isArray(list)) || (webauthn !== undefined && !Array.isArray(webauthn))) {
    throw new LineError('invalid_factor', '"mfa_factors" and "gatehouse.webauthn" must be arrays');
  }
  const out: ImportFactor[] = [];
  for (const factor of (list ?? []) as unknown[]) {
    if (!isObject(factor)) throw new LineError('invalid_factor');
    if (isObject(factor.totp)) {
      const seed = secret(factor.totp.secret, 'totp', email, envelope)?.replace(/\s/g, '').toUpperCase();
      if (!seed || !BASE32.test(seed) || seed.length < 16)
        throw new LineError('invalid_factor', 'A TOTP secret must be base32, 80 bits or more');
      out.push({ type: 'otp', secret: seed });
    } else if (isObject(factor.phone) || isObject(factor.email)) {
      const type = isObject(factor.phone) ? 'sms' : 'email';
      const typed = secret(((factor.phone ?? factor.email) as Record<string, unknown>).value, type, email, envelope);
      const destination = type === 'email' ? parseEmail(typed ?? '') : typed;
      if (!destination || (type === 'sms' && !/^\+[1-9]\d{6,14}$/.test(destination))) {
        throw new LineError('invalid_factor', `A ${type === 'sms' ? 'phone number (E.164)' : 'email address'} factor is malformed`);
      }
      out.push({ type, destination });
    } else {
      throw new LineError('invalid_factor', 'Each factor is one of {totp}, {phone}, {email}');
    }
  }
  for (const credential of (webauthn ?? []) as unknown[]) {
    if (!isObject(credential) || typeof credential.credential_id !== 'string' || typeof credential.public_key !== 'string') {
      throw new LineError('invalid_factor', 'A passkey needs credential_id and public_key');
    }
    out.push({
      type: 'webauthn',
      name: typeof credential.name === 'string' ? credential.name : null,
      credential_id: credential.credential_id,
      public_key: credential.public_key,
      sign_count: Number.isInteger(credential.sign_count) ? (credential.sign_count as number) : 0,
      transports: Array.isArray(credential.transports) ? credential.transports.filter((t): t is string => typeof t === 'string') : [],
      amr: typeof credential.amr === 'string' ? credential.amr : null,
    });
  }
  return out;
}

function memberships(value: unknown): ImportRecord['tenants'] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new LineError('invalid_record', '"gatehouse.tenants" must be an array');
  return value.map((entry) => {
    if (!isObject(entry) || typeof entry.tenant !== 'string')
      throw new LineError('invalid_record', 'Each of "gatehouse.tenants" needs "tenant"');
    const roles = entry.roles;
    if (roles !== undefined && !(Array.isArray(roles) && roles.every((r) => typeof r === 'string'))) {
      throw new LineError('invalid_record', '"roles" must be an array of role names');
    }
    const groups = entry.groups;
    if (groups !== undefined && !(Array.isArray(groups) && groups.length <= 100 && groups.every((g) => typeof g === 'string'))) {
      throw new LineError('invalid_record', '"groups" must be an array of group names');
    }
    return { tenant: entry.tenant, roles: roles as string[] | undefined, ...(groups !== undefined && { groups: groups as string[] }) };
  });
}

/** One JSON line: Auth0's bulk import fields, plus the `gatehouse` extension (memberships, status, passkeys). */
export function jsonRecord(line: number, raw: Record<string, unknown>, envelope: Envelope | undefined): ImportRecord {
  const extension = object(raw, 'gatehouse') ?? {};
  const email = checkEmail(raw.email);
  const hash = secret(raw.password_hash, 'password_hash', email, envelope);
  const custom = object(raw, 'custom_password_hash');
  const status = extension.status;
  if (status !== undefined && status !== 'active' && status !== 'disabled' && status !== 'pending') {
    throw new LineError('invalid_record', '"gatehouse.status" is active, disabled or pending');
  }
  if (raw.blocked !== undefined && typeof raw.blocked !== 'boolean') throw new LineError('invalid_record', '"blocked" must be a boolean');
  for (const flag of ['email_verified', 'phone_verified'] as const) {
    if (raw[flag] !== undefined && typeof raw[flag] !== 'boolean') throw new LineError('invalid_record', `"${flag}" must be a boolean`);
  }
  const home = extension.home_tenant;
  if (home !== undefined && typeof home !== 'string') throw new LineError('invalid_record', '"gatehouse.home_tenant" must be a string');
  return {
    line,
    email,
    username: text(raw, 'username', 128),
    phone: text(raw, 'phone_number', 32),
    given_name: text(raw, 'given_name'),
    family_name: text(raw, 'family_name'),
    name: text(raw, 'name') ?? text(raw, 'nickname'),
    picture: text(raw, 'picture', 2048),
    locale: text(raw, 'locale', 35),
    ...(typeof raw.email_verified === 'boolean' && { email_verified: raw.email_verified }),
    ...(typeof raw.phone_verified === 'boolean' && { phone_verified: raw.phone_verified }),
    ...(status !== undefined ? { status } : raw.blocked !== undefined && { status: raw.blocked ? 'disabled' : 'active' }),
    user_metadata: metadata(raw, 'user_metadata'),
    app_metadata: metadata(raw, 'app_metadata'),
    ...(hash !== undefined ? { password_hash: checkHash(hash) } : custom && { password_hash: customHash(custom) }),
    ...(home !== undefined && { home_tenant: home }),
    tenants: memberships(extension.tenants),
    factors: factors(raw.mfa_factors, extension, email, envelope),
  };
}

/** The columns of Cognito's user import CSV, plus `password_hash` and `roles` (decision 141). */
export const CSV_HEADERS = [
  'name',
  'given_name',
  'family_name',
  'middle_name',
  'nickname',
  'preferred_username',
  'profile',
  'picture',
  'website',
  'email',
  'email_verified',
  'gender',
  'birthdate',
  'zoneinfo',
  'locale',
  'phone_number',
  'phone_number_verified',
  'address',
  'updated_at',
  'cognito:mfa_enabled',
  'cognito:username',
  'password_hash',
  'roles',
] as const;

/** Cognito's profile attributes Gatehouse has no column for: kept in user_metadata. */
const CSV_METADATA = ['middle_name', 'nickname', 'profile', 'website', 'gender', 'birthdate', 'zoneinfo', 'address'];

function bool(value: string, column: string): boolean {
  const lower = value.toLowerCase();
  if (lower !== 'true' && lower !== 'false') throw new LineError('invalid_record', `"${column}" is true or false`);
  return lower === 'true';
}

/** One CSV row (headers already checked); an empty cell is a field not given. */
export function csvRecord(line: number, headers: readonly string[], cells: readonly string[], tenant: string | undefined): ImportRecord {
  if (cells.length !== headers.length) {
    throw new LineError('invalid_record', `The row has ${cells.length} cells; the header has ${headers.length}`);
  }
  const row: Record<string, string> = {};
  headers.forEach((header, i) => {
    if (cells[i] !== '') row[header] = cells[i]!;
  });
  const metadata = Object.fromEntries(CSV_METADATA.filter((key) => row[key] !== undefined).map((key) => [key, row[key]]));
  const username = row.preferred_username ?? row['cognito:username'];
  const roles = row.roles
    ?.split(';')
    .map((r) => r.trim())
    .filter(Boolean);
  if (roles && !tenant) throw new LineError('invalid_record', 'Roles are held in a tenant: name it (the tenant option)');
  return {
    line,
    email: checkEmail(row.email),
    ...(username !== undefined && username.toLowerCase() !== row.email?.toLowerCase() && { username: text({ username }, 'username', 128) }),
    ...(row.name !== undefined && { name: row.name }),
    ...(row.given_name !== undefined && { given_name: row.given_name }),
    ...(row.family_name !== undefined && { family_name: row.family_name }),
    ...(row.picture !== undefined && { picture: row.picture }),
    ...(row.locale !== undefined && { locale: row.locale }),
    ...(row.phone_number !== undefined && { phone: row.phone_number }),
    ...(row.email_verified !== undefined && { email_verified: bool(row.email_verified, 'email_verified') }),
    ...(row.phone_number_verified !== undefined && { phone_verified: bool(row.phone_number_verified, 'phone_number_verified') }),
    ...(Object.keys(metadata).length > 0 && { user_metadata: metadata }),
    ...(row.password_hash !== undefined && { password_hash: checkHash(row.password_hash) }),
    tenants: tenant ? [{ tenant, roles }] : [],
    factors: undefined,
  };
}

/** A membership as the writer needs it: tenant and role ids resolved, the caller's right to assign them checked. */
export interface ResolvedRecord extends Omit<ImportRecord, 'tenants' | 'home_tenant'> {
  homeTenantId: string | null | undefined;
  /** `named`: the line names the roles; an existing member's roles change only then (decision 187). */
  memberships: { tenantId: string; roleIds: string[]; named: boolean; groupIds?: string[] | undefined }[];
}
