import { STRATEGIES, STRATEGY_OPTIONS, type Strategy } from '../../authn/federation/strategy.js';
import { DATABASE_CONNECTION } from '../../authn/passwords/connection.js';
import type { AppContext } from '../../platform/context.js';
import type { RoleMapping } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { applicationDestinations, destinationProblem } from '../../platform/http/destinations.js';

/**
 * The checks of a connection's fields that need no database (docs/federation.md#connections):
 * names, strategies, options (required, secret, URL), domains, mapping and attributes.
 * Each refusal is a 400 with a stable code, never a 500.
 */

/** Auth0's rule: letters, digits and inner hyphens, at most 128 characters. */
const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,126}[A-Za-z0-9])?$/;
/** Auth0's database connection: a name a migration keeps for the password sign-in, never a federated one. */
export const RESERVED_NAMES = [DATABASE_CONNECTION];

export function checkName(name: string): string {
  if (!NAME.test(name)) {
    throw new AppError(
      'invalid_connection_name',
      'A connection name is 1 to 128 letters, digits or hyphens, starting and ending with a letter or digit',
      { field: 'name' },
    );
  }
  if (RESERVED_NAMES.some((reserved) => reserved.toLowerCase() === name.toLowerCase())) {
    throw new AppError('reserved_connection_name', `"${name}" is reserved`, { field: 'name' });
  }
  return name;
}

export function checkStrategy(strategy: string): Strategy {
  if (!(STRATEGIES as readonly string[]).includes(strategy)) {
    throw new AppError('unknown_strategy', `Unknown strategy "${strategy}"`, { field: 'strategy', strategies: [...STRATEGIES] });
  }
  return strategy as Strategy;
}

/** Options that Gatehouse calls or sends a browser to: each must be a URL (https in production). */
export const URL_OPTIONS = ['issuer', 'discovery_url', 'authorizationURL', 'tokenURL', 'userinfoURL', 'metadataUrl', 'url'] as const;

export interface SplitOptions {
  /** Stored as given, answered as stored. */
  options: Record<string, unknown>;
  /** Sealed at rest, never answered. */
  secrets: Record<string, string>;
}

const invalidOption = (option: string, message: string, reason: string) =>
  new AppError('invalid_option', `options.${option}: ${message}`, { field: `options.${option}`, reason });

/**
 * The option names that are sealed: every strategy's secrets, whatever the connection's
 * strategy, so a secret given under a strategy that does not use it (a `client_secret` on
 * `samlp`) is sealed rather than stored and answered in plaintext.
 */
export const SECRET_OPTIONS: readonly string[] = [...new Set(Object.values(STRATEGY_OPTIONS).flatMap((spec) => spec.secrets))];

/**
 * The secret options taken out of `options` (each a non-empty string), the rest
 * left as given. A null value removes the option (on a change); it is kept as null here and
 * dropped by `mergeOptions`.
 */
export function splitOptions(given: Record<string, unknown>): { options: Record<string, unknown>; secrets: Record<string, string | null> } {
  const options: Record<string, unknown> = {};
  const secrets: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(given)) {
    if (!SECRET_OPTIONS.includes(key)) {
      options[key] = value;
      continue;
    }
    if (value !== null && (typeof value !== 'string' || value.length === 0)) {
      throw invalidOption(key, 'a secret is a non-empty string', 'not_a_string');
    }
    secrets[key] = value;
  }
  return { options, secrets };
}

/** `current` with `change` on top; a null in `change` removes the key. */
export function mergeOptions<T>(current: Record<string, T>, change: Record<string, T | null | unknown>): Record<string, T> {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(change)) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged as Record<string, T>;
}

const present = (value: unknown) => value !== undefined && value !== null && value !== '';

/** Every required option of the strategy is set (`a|b`: one of them), in the options or the secrets. */
export function checkRequired(strategy: Strategy, all: SplitOptions): void {
  for (const entry of STRATEGY_OPTIONS[strategy].required) {
    const alternatives = entry.split('|');
    if (!alternatives.some((key) => present(all.options[key]) || present(all.secrets[key]))) {
      throw new AppError('missing_option', `The ${strategy} strategy needs options.${alternatives.join(' or options.')}`, {
        field: `options.${alternatives[0]}`,
        option: entry,
      });
    }
  }
}

/**
 * The URL options as they may be stored: absolute, no user name or password in them (a
 * secret in a non-secret option), `https:` in production; `ad`'s `url` is `ldaps:` (or
 * `ldap:` with `starttls: true` in production, either outside it).
 */
export function checkUrlShapes(strategy: Strategy, options: Record<string, unknown>, production: boolean): URL[] {
  const urls: URL[] = [];
  for (const key of URL_OPTIONS) {
    const value = options[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string' || !URL.canParse(value)) throw invalidOption(key, 'not an absolute URL', 'malformed');
    const url = new URL(value);
    if (url.username || url.password) throw invalidOption(key, 'a URL must not carry a user name or password', 'credentials');
    if (strategy === 'ad' && key === 'url') {
      const tls = url.protocol === 'ldaps:' || (url.protocol === 'ldap:' && options.starttls === true);
      if (url.protocol !== 'ldaps:' && url.protocol !== 'ldap:') throw invalidOption(key, 'ldaps: or ldap:', 'scheme');
      if (production && !tls) throw invalidOption(key, 'ldaps:, or ldap: with starttls: true, in production', 'scheme');
    } else {
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalidOption(key, 'https: (or http: outside production)', 'scheme');
      if (production && url.protocol !== 'https:') throw invalidOption(key, 'https: in production', 'scheme');
    }
    urls.push(url);
  }
  return urls;
}

/**
 * The hosts Gatehouse will call must be allowed destinations (in production no loopback,
 * private, link-local or other internal address unless configured, as for back-channel
 * logout URIs, decision 204). Checked before any row is locked: a slow name server must not hold a lock.
 */
export async function checkDestinations(ctx: AppContext, urls: URL[]): Promise<void> {
  const policy = applicationDestinations(ctx.config);
  for (const url of urls) {
    const problem = await destinationProblem(policy, url);
    if (problem) {
      const why =
        problem === 'unresolvable' ? 'does not resolve' : 'leads to a loopback, private, link-local or otherwise internal address';
      throw new AppError('destination_not_allowed', `"${url.origin}" ${why}`, { uri: url.origin, reason: problem });
    }
  }
}

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Email domains for home-realm discovery: host names (at least one dot), lower-cased, each once. */
export function checkDomains(domains: string[]): string[] {
  const checked = [...new Set(domains.map((d) => d.trim().toLowerCase()))];
  for (const domain of checked) {
    if (!HOSTNAME.test(domain)) throw new AppError('invalid_domain', `"${domain}" is not a host name`, { field: 'domains', domain });
  }
  return checked;
}

/** The user's fields a connection may fill from the provider's claims; never the email or the user name, which sign-ins and links rest on. */
export const MAPPABLE_FIELDS = ['given_name', 'family_name', 'name', 'picture', 'locale', 'phone'] as const;

export function checkAttributes(attributes: Record<string, string>): Record<string, string> {
  for (const [field, claim] of Object.entries(attributes)) {
    if (!(MAPPABLE_FIELDS as readonly string[]).includes(field)) {
      throw new AppError('invalid_field', `attributes.${field}: a connection maps only ${MAPPABLE_FIELDS.join(', ')}`, {
        field: `attributes.${field}`,
      });
    }
    if (typeof claim !== 'string' || claim.length === 0) {
      throw new AppError('invalid_field', `attributes.${field}: the claim is a non-empty string`, { field: `attributes.${field}` });
    }
  }
  return attributes;
}

/** Each rule once, its roles and groups each once; a rule names at least one role or group. */
export function normalMapping(mapping: readonly (Omit<RoleMapping, 'roles'> & { roles?: string[] | undefined })[]): RoleMapping[] {
  return mapping.map((rule, index) => {
    const roles = [...new Set(rule.roles ?? [])];
    const groups = [...new Set(rule.groups ?? [])];
    if (roles.length === 0 && groups.length === 0) {
      throw new AppError('invalid_field', `mapping/${index}: a rule names roles, groups or both`, { field: `mapping/${index}` });
    }
    return { claim: rule.claim, value: rule.value, roles, groups };
  });
}
