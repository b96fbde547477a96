import { isIP } from 'node:net';
import { type Static, type TPartial, Type } from '@sinclair/typebox';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { seal, unseal } from '../../platform/crypto/secrets.js';
import { AppError } from '../../platform/errors.js';
import type { Scope } from '../permissions/effective.js';
import { resolveAssignableRoles, roleNamed } from '../roles/roles.js';
import { getTenant } from '../tenants/tenants.js';

/**
 * Tenant policies (docs/api.md#tenant-policies): every threshold an administrator may change at any time.
 * Stored as the overrides in `tenants.policies`; a missing value means the default, so a
 * new default reaches every tenant that never chose otherwise.
 */
export const POLICY_SECTIONS = {
  password: Type.Object(
    {
      min_length: Type.Integer({ minimum: 8, maximum: 128, description: 'Default: 10' }),
      max_length: Type.Integer({ minimum: 8, maximum: 1024, description: 'Default: 128' }),
      /** How many previous passwords may not be reused (0: no history). */
      history: Type.Integer({ minimum: 0, maximum: 24, description: 'Default: 0' }),
      /** Ask Have I Been Pwned (k-anonymity) whether a new password has leaked. */
      check_breached: Type.Boolean({ description: 'Default: false' }),
    },
    { additionalProperties: false },
  ),
  lockout: Type.Object(
    {
      /**
       * Consecutive failures of one account before its backoff starts. The system tenant's
       * account values answer 429 for every login; another tenant's lock its users quietly
       * where they are stricter (decision 210).
       */
      account_threshold: Type.Integer({ minimum: 1, maximum: 1000, description: 'Default: 5' }),
      account_initial_delay_seconds: Type.Integer({ minimum: 1, maximum: 3600, description: 'Default: 1' }),
      account_max_delay_seconds: Type.Integer({ minimum: 1, maximum: 86_400, description: 'Default: 900' }),
      /** Consecutive failures of one account from one IP address before that pair is blocked (read from the system tenant only). */
      pair_threshold: Type.Integer({ minimum: 1, maximum: 1000, description: 'Default: 10; system tenant only' }),
      pair_block_days: Type.Integer({ minimum: 1, maximum: 365, description: 'Default: 30; system tenant only' }),
      /** Consecutive failures after which password sign-in stays off until a reset (NIST SP 800-63B). */
      hard_limit: Type.Integer({ minimum: 10, maximum: 10_000, description: 'Default: 100' }),
      /** Credential stuffing: failures from one address, across all accounts, within the window (read from the system tenant only). */
      ip_threshold: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Default: 100; system tenant only' }),
      ip_window_seconds: Type.Integer({ minimum: 1, maximum: 86_400, description: 'Default: 3600; system tenant only' }),
      ip_block_seconds: Type.Integer({ minimum: 1, maximum: 604_800, description: 'Default: 3600; system tenant only' }),
      /** Networks exempt from the per-address throttle, e.g. an office's NAT (system tenant only). */
      trusted_networks: Type.Array(Type.String({ maxLength: 64, pattern: '^[0-9a-fA-F.:]+(/[0-9]{1,3})?$' }), {
        maxItems: 100,
        description: 'CIDR ranges or addresses. Default: []; system tenant only',
      }),
    },
    { additionalProperties: false },
  ),
  mfa: Type.Object(
    {
      /** off: no challenge; optional: users with a factor are challenged; required: everyone enrols. */
      policy: Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('required')], { description: 'Default: optional' }),
      /** The factors users may enrol, and the only ones that count for a sign-in into this tenant (decision 198); never empty. */
      factors: Type.Array(Type.Union([Type.Literal('otp'), Type.Literal('email'), Type.Literal('sms'), Type.Literal('webauthn')]), {
        uniqueItems: true,
        minItems: 1,
        maxItems: 4,
        description: 'Default: ["otp", "email", "sms", "webauthn"]',
      }),
    },
    { additionalProperties: false },
  ),
  signup: Type.Object(
    {
      /** Self-registration into this tenant (each application may switch it off for itself). */
      enabled: Type.Boolean({ description: 'Default: false' }),
      /** Whether a user who has not verified the email address may sign in. */
      allow_unverified_sign_in: Type.Boolean({ description: 'Default: false' }),
      /** Profile fields the sign-up form asks for, besides email and password. */
      profile_fields: Type.Array(
        Type.Union([
          Type.Literal('given_name'),
          Type.Literal('family_name'),
          Type.Literal('name'),
          Type.Literal('username'),
          Type.Literal('phone'),
        ]),
        { uniqueItems: true, maxItems: 5, description: 'Default: []' },
      ),
      /** Which of these fields must be filled in. */
      required_fields: Type.Array(
        Type.Union([
          Type.Literal('given_name'),
          Type.Literal('family_name'),
          Type.Literal('name'),
          Type.Literal('username'),
          Type.Literal('phone'),
        ]),
        { uniqueItems: true, maxItems: 5, description: 'Default: []' },
      ),
      /** The role a new member gets (a global role or one of the tenant's roles). */
      default_role: Type.String({ minLength: 1, maxLength: 100, description: 'Default: USER' }),
    },
    { additionalProperties: false },
  ),
  passwordless: Type.Object(
    {
      /** Sign-in without a password: an emailed link, an emailed code, a texted code. */
      methods: Type.Array(Type.Union([Type.Literal('email_link'), Type.Literal('email_code'), Type.Literal('sms_code')]), {
        uniqueItems: true,
        maxItems: 3,
        description: 'Default: [] (off)',
      }),
    },
    { additionalProperties: false },
  ),
  account: Type.Object(
    {
      /** Users may delete their own account on the account page. */
      allow_deletion: Type.Boolean({ description: 'Default: false' }),
    },
    { additionalProperties: false },
  ),
  bot_defence: Type.Object(
    {
      /** off: never; always: every guarded step asks for a solution; on_risk: only when a risk signal holds (decision 370). */
      mode: Type.Union([Type.Literal('off'), Type.Literal('always'), Type.Literal('on_risk')], { description: 'Default: on_risk' }),
      /** altcha: Gatehouse's own proof of work (no third party); the others verify with their provider. */
      provider: Type.Union([Type.Literal('altcha'), Type.Literal('turnstile'), Type.Literal('hcaptcha'), Type.Literal('recaptcha')], {
        description: 'Default: altcha',
      }),
      /** The provider's public site key (Turnstile, hCaptcha, reCAPTCHA). */
      site_key: Type.String({ maxLength: 200, description: 'Default: "" (altcha needs none)' }),
      /** Whether a provider secret is stored (sealed; it is never returned: PATCH `secret` to set it). */
      secret_set: Type.Boolean({ readOnly: true, description: 'Read-only' }),
      /** Where the provider's answer is verified; "" = the operator's (GATEHOUSE_<PROVIDER>_VERIFY_URL) or the provider's documented URL. */
      verify_url: Type.String({ maxLength: 2000, description: 'Default: ""' }),
      /** The steps guarded. */
      actions: Type.Array(
        Type.Union([
          Type.Literal('signup'),
          Type.Literal('signin'),
          Type.Literal('passwordless'),
          Type.Literal('recovery'),
          Type.Literal('mfa_send'),
        ]),
        { uniqueItems: true, maxItems: 5, description: 'Default: all five' },
      ),
      /** on_risk: failed sign-ins from the client's address (the brute-force counters' window) from which a challenge is asked. */
      risk_failures: Type.Integer({ minimum: 1, maximum: 100_000, description: 'Default: 20' }),
      /** on_risk: sign-ups from one network (/24, IPv6 /48) in the window from which a challenge is asked. */
      risk_signups: Type.Integer({ minimum: 1, maximum: 100_000, description: 'Default: 10' }),
      risk_signup_window_seconds: Type.Integer({ minimum: 60, maximum: 86_400, description: 'Default: 3600' }),
      /** on_risk: networks that always get a challenge (a known bad address list). */
      risky_networks: Type.Array(Type.String({ maxLength: 64, pattern: '^[0-9a-fA-F.:]+(/[0-9]{1,3})?$' }), {
        maxItems: 1000,
        description: 'CIDR ranges or addresses. Default: []',
      }),
      /** altcha: PBKDF2 iterations per attempt (about 256 attempts are needed on average). */
      altcha_cost: Type.Integer({ minimum: 1, maximum: 100_000, description: 'Default: 1000' }),
    },
    { additionalProperties: false },
  ),
  sms: Type.Object(
    {
      /** Texts the tenant may send in an hour (SMS pumping); a text beyond it is refused with 429. */
      tenant_hourly_cap: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Default: 500' }),
      /** Texts to one country (from the E.164 number) in an hour, for a country without its own cap. */
      country_hourly_cap: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Default: 50' }),
      /** Caps of single countries (ISO 3166 alpha-2 → texts an hour; 0 = none there). */
      country_hourly_caps: Type.Record(Type.String({ pattern: '^[A-Z]{2}$' }), Type.Integer({ minimum: 0, maximum: 1_000_000 }), {
        maxProperties: 300,
        description: 'Default: {}',
      }),
      /** The least time between two codes sent to one account or flow (a resend). */
      resend_interval_seconds: Type.Integer({ minimum: 0, maximum: 3600, description: 'Default: 30' }),
    },
    { additionalProperties: false },
  ),
  audit: Type.Object(
    {
      retention_days: Type.Integer({ minimum: 1, maximum: 36_500, description: 'Default: 400' }),
    },
    { additionalProperties: false },
  ),
};

export const Policies = Type.Object(POLICY_SECTIONS, { additionalProperties: false });

/** What a PATCH may say of bot defence: the secret is written (and sealed), never read; `secret_set` is read only. */
const { secret_set: _secretSet, ...botDefenceFields } = POLICY_SECTIONS.bot_defence.properties;
const BotDefencePatch = Type.Partial(
  Type.Object(
    {
      ...botDefenceFields,
      secret: Type.String({
        minLength: 1,
        maxLength: 500,
        writeOnly: true,
        description: 'The provider’s secret key; sealed, never returned',
      }),
    },
    { additionalProperties: false },
  ),
);
export const PoliciesPatch = Type.Partial(
  Type.Object(
    {
      ...(Object.fromEntries(Object.entries(POLICY_SECTIONS).map(([name, section]) => [name, Type.Partial(section)])) as {
        [K in keyof typeof POLICY_SECTIONS]: TPartial<(typeof POLICY_SECTIONS)[K]>;
      }),
      bot_defence: BotDefencePatch,
    },
    { additionalProperties: false },
  ),
);

export type Policies = Static<typeof Policies>;
export type PoliciesPatch = Static<typeof PoliciesPatch>;
type SectionName = keyof typeof POLICY_SECTIONS;

/**
 * The defaults (docs/api.md#tenant-policies). Kept out of the schemas on purpose: the
 * validator fills schema defaults into request bodies, and a PATCH must not reset what it
 * does not name.
 */
const DEFAULTS: Policies = {
  password: { min_length: 10, max_length: 128, history: 0, check_breached: false },
  lockout: {
    account_threshold: 5,
    account_initial_delay_seconds: 1,
    account_max_delay_seconds: 900,
    pair_threshold: 10,
    pair_block_days: 30,
    hard_limit: 100,
    ip_threshold: 100,
    ip_window_seconds: 3600,
    ip_block_seconds: 3600,
    trusted_networks: [],
  },
  mfa: { policy: 'optional', factors: ['otp', 'email', 'sms', 'webauthn'] },
  signup: { enabled: false, allow_unverified_sign_in: false, profile_fields: [], required_fields: [], default_role: 'USER' },
  passwordless: { methods: [] },
  account: { allow_deletion: false },
  bot_defence: {
    mode: 'on_risk',
    provider: 'altcha',
    site_key: '',
    secret_set: false,
    verify_url: '',
    actions: ['signup', 'signin', 'passwordless', 'recovery', 'mfa_send'],
    risk_failures: 20,
    risk_signups: 10,
    risk_signup_window_seconds: 3600,
    risky_networks: [],
    altcha_cost: 1000,
  },
  sms: { tenant_hourly_cap: 500, country_hourly_cap: 50, country_hourly_caps: {}, resend_interval_seconds: 30 },
  audit: { retention_days: 400 },
};

/** A tenant's stored overrides on top of the defaults. */
export function resolvePolicies(stored: Record<string, unknown> | null | undefined): Policies {
  const resolved = structuredClone(DEFAULTS);
  for (const name of Object.keys(DEFAULTS) as SectionName[]) {
    const overrides = stored?.[name];
    if (overrides && typeof overrides === 'object') Object.assign(resolved[name], overrides);
  }
  // The sealed provider secret stays in the stored overrides; what is read says only whether there is one.
  const { secret_sealed, secret, ...botDefence } = resolved.bot_defence as Policies['bot_defence'] & {
    secret_sealed?: unknown;
    secret?: unknown;
  };
  resolved.bot_defence = { ...botDefence, secret_set: typeof secret_sealed === 'string' || typeof secret === 'string' };
  return resolved;
}

/**
 * A tenant's stored overrides as a definitions export carries them: without the sealed
 * provider secret (sealed under this deployment's master key, and a secret all the same).
 */
export function exportablePolicies(stored: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(stored) as Record<string, Record<string, unknown> | undefined>;
  if (copy.bot_defence) delete copy.bot_defence.secret_sealed;
  return copy;
}

export const defaultPolicies = (): Policies => structuredClone(DEFAULTS);

/**
 * The policies of a tenant (the defaults for an unknown or absent tenant), read afresh on
 * every call (decision 191): one primary-key read, and a change holds for the very next
 * request on every node, with no cache window.
 */
export async function tenantPolicies(ctx: AppContext, tenantId: string | null | undefined): Promise<Policies> {
  if (!tenantId) return defaultPolicies();
  const row = await ctx.db.selectFrom('tenants').select('policies').where('id', '=', tenantId).executeTakeFirst();
  return resolvePolicies(row?.policies);
}

export async function readPolicies(ctx: AppContext, scope: Scope, tenantId: string): Promise<Policies> {
  const tenant = await getTenant(ctx, scope, tenantId);
  return resolvePolicies(tenant.policies);
}

/** Each trusted network must parse as an address or CIDR range (node:net's BlockList decides). */
function assertNetworks(networks: string[]): void {
  for (const network of networks) {
    if (!parseNetwork(network)) {
      throw new AppError('invalid_field', `lockout.trusted_networks: "${network}" is not an IP address or CIDR range`, {
        field: 'lockout.trusted_networks',
      });
    }
  }
}

/** An address or CIDR range as node:net's BlockList takes it, or undefined when it is not one. */
export function parseNetwork(network: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', bits] = network.split('/');
  const family = isIP(address) === 4 ? 'ipv4' : isIP(address) === 6 ? 'ipv6' : undefined;
  if (!family) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { address, prefix, family };
}

/** The sections that decide how a tenant's users sign in; in the system tenant, a system administrator's matter. */
const SYSTEM_SIGN_IN_SECTIONS: readonly SectionName[] = ['mfa', 'lockout', 'password', 'passwordless', 'bot_defence', 'sms'];

/** The context a tenant's bot-defence provider secret is sealed under: it cannot be moved to another tenant. */
export const botSecretContext = (tenantId: string) => `bot-defence-secret:${tenantId}`;

/**
 * A tenant's provider secret (Turnstile, hCaptcha, reCAPTCHA), unsealed for one verification;
 * undefined when none is stored. Never returned by the API.
 */
export async function botDefenceSecret(ctx: AppContext, tenantId: string): Promise<string | undefined> {
  const row = await ctx.db.selectFrom('tenants').select('policies').where('id', '=', tenantId).executeTakeFirst();
  const sealed = (row?.policies as { bot_defence?: { secret_sealed?: unknown } } | null)?.bot_defence?.secret_sealed;
  return typeof sealed === 'string' ? unseal(ctx.masterKey, sealed, botSecretContext(tenantId)) : undefined;
}

/** Changes some values of some sections; the others keep what they were. */
export async function updatePolicies(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  tenantId: string,
  patch: PoliciesPatch,
): Promise<Policies> {
  const tenant = await getTenant(ctx, scope, tenantId);
  // Retention deletes audit events: a tenant administrator (whose own actions they record)
  // must not be able to shorten it.
  if (scope.kind === 'tenant' && patch.audit !== undefined) {
    throw new AppError('forbidden', 'Only a system administrator changes audit retention', { field: 'audit' });
  }
  // The system tenant's sign-in policies protect the system administrators (decision 192):
  // only `iam.tenant.update` (system scope) changes them, never its tenant administrators.
  const guarded = SYSTEM_SIGN_IN_SECTIONS.filter((name) => patch[name] !== undefined);
  if (tenant.is_system && scope.kind === 'tenant' && guarded.length > 0) {
    throw new AppError('forbidden', 'The system tenant’s sign-in policies are changed by system administrators only', {
      sections: guarded,
      required: 'iam.tenant.update',
    });
  }
  const stored = structuredClone(tenant.policies ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, values] of Object.entries(patch)) stored[name] = { ...stored[name], ...values };
  // The provider secret is sealed before it is stored (bound to this tenant); only `secret_set` is ever read back.
  const botDefence = stored.bot_defence;
  if (botDefence && typeof botDefence.secret === 'string') {
    botDefence.secret_sealed = seal(ctx.masterKey, botDefence.secret, botSecretContext(tenantId));
    delete botDefence.secret;
  }
  const resolved = resolvePolicies(stored);
  assertConsistent(resolved, ctx.config.production);
  await ctx.db.transaction().execute(async (trx) => {
    // Sign-up hands its default role to whoever registers: setting it (or turning sign-up on)
    // is assigning that role, under the rule of every assignment (decisions 20 and 193).
    const role = patch.signup && (await roleNamed(trx, tenantId, resolved.signup.default_role));
    if (role) await resolveAssignableRoles(trx, scope, tenantId, [role.id]);
    await trx
      .updateTable('tenants')
      .set({ policies: JSON.stringify(stored), updated_at: ctx.clock.now() })
      .where('id', '=', tenantId)
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.tenant.modified',
      actor,
      tenantId,
      target: { type: 'tenant', id: tenantId },
      details: { policies: Object.fromEntries(Object.entries(patch).map(([name, values]) => [name, Object.keys(values ?? {})])) },
    });
  });
  return resolved;
}

/** What the schema cannot say: bounds that depend on each other, and trusted networks that parse. */
export function assertConsistent(resolved: Policies, production = false): void {
  if (resolved.password.min_length > resolved.password.max_length) {
    throw new AppError('invalid_field', 'password.min_length must not exceed password.max_length', {
      field: 'password.min_length',
    });
  }
  if (resolved.lockout.account_initial_delay_seconds > resolved.lockout.account_max_delay_seconds) {
    throw new AppError('invalid_field', 'lockout.account_initial_delay_seconds must not exceed lockout.account_max_delay_seconds', {
      field: 'lockout.account_initial_delay_seconds',
    });
  }
  assertNetworks(resolved.lockout.trusted_networks);
  assertBotDefence(resolved.bot_defence, production);
}

/**
 * A third-party provider needs its site key and secret before it may guard anything, and
 * a verify URL must be one Gatehouse may call: absolute http(s) (https in production), no
 * credentials, no fragment. Where it points is checked again at each call (the SSRF guard).
 */
function assertBotDefence(bot: Policies['bot_defence'], production: boolean): void {
  const invalid = (field: string, message: string) => new AppError('invalid_field', message, { field: `bot_defence.${field}` });
  for (const network of bot.risky_networks) {
    if (!parseNetwork(network))
      throw invalid('risky_networks', `bot_defence.risky_networks: "${network}" is not an IP address or CIDR range`);
  }
  if (bot.verify_url !== '') {
    const url = URL.canParse(bot.verify_url) ? new URL(bot.verify_url) : undefined;
    const schemes = production ? ['https:'] : ['https:', 'http:'];
    if (!url || !schemes.includes(url.protocol) || url.username || url.password || url.hash) {
      throw invalid(
        'verify_url',
        `bot_defence.verify_url must be an absolute ${production ? 'https' : 'http(s)'} URL without credentials or fragment`,
      );
    }
  }
  if (bot.mode !== 'off' && bot.provider !== 'altcha' && (bot.site_key === '' || !bot.secret_set)) {
    throw invalid(bot.site_key === '' ? 'site_key' : 'secret', `bot_defence: the ${bot.provider} provider needs its site_key and secret`);
  }
}
