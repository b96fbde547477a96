import { parsePhoneNumberFromString } from 'libphonenumber-js/min';
import { systemTenantId } from '../../directory/permissions/effective.js';
import { tenantPolicies } from '../../directory/policies/policies.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { fingerprint } from '../../platform/crypto/secrets.js';
import { AppError } from '../../platform/errors.js';
import { hit, spaced, unhit } from './counters.js';

/**
 * SMS pumping defence (decisions 379–381). Texts cost money per message, and a fraudster
 * who can make Gatehouse text premium numbers earns a share: every text is counted against
 * its tenant's hourly cap and its destination country's, and a code is not sent again to
 * one account or flow sooner than the tenant's `resend_interval_seconds`.
 */

const HOUR_SECONDS = 3600;

/** The country a number rings in (ISO 3166 alpha-2), or `+<calling code>` when the number's country is not known. */
export function countryOf(phone: string): string {
  const parsed = parsePhoneNumberFromString(phone);
  if (parsed?.country) return parsed.country;
  return parsed?.countryCallingCode ? `+${parsed.countryCallingCode}` : 'unknown';
}

export const smsCapReached = (scope: 'tenant' | 'country', retryAfter: number) =>
  new AppError(
    'sms_cap_reached',
    scope === 'tenant'
      ? 'This service has sent as many text messages as it may this hour; try again later'
      : 'No more text messages to this country this hour; try again later',
    { retry_after: retryAfter, scope },
  );

/**
 * Counts one text to `phone` for the tenant, or throws `429 sms_cap_reached` (with
 * `retry_after`, and the scope: `tenant` or `country`) when the tenant's hourly cap or the
 * country's is reached. Each cap is one conditional upsert shared by every node; a text
 * refused by the country's cap is taken back from the tenant's count.
 */
export async function countText(ctx: AppContext, tenantId: string | null, phone: string): Promise<void> {
  const tenant = await countTenantText(ctx, tenantId);
  try {
    await countCountryText(ctx, tenant, phone);
  } catch (error) {
    await unhit(ctx.db, tenantKey(tenant));
    throw error;
  }
}

const tenantKey = (tenantId: string) => `sms:tenant:${tenantId}`;

/** Counts one text against the tenant's hourly cap (429 sms_cap_reached beyond it); returns the tenant it counted for. */
export async function countTenantText(ctx: AppContext, tenantId: string | null): Promise<string> {
  const tenant = tenantId ?? (await systemTenantId(ctx.db));
  const { sms } = await tenantPolicies(ctx, tenant);
  const counted = await hit(ctx.db, tenantKey(tenant), HOUR_SECONDS, sms.tenant_hourly_cap, ctx.clock.now());
  if (!counted.counted) {
    await capAudit(ctx, tenant, 'tenant', '');
    throw smsCapReached('tenant', counted.retryAfter);
  }
  return tenant;
}

/** Counts one text against the cap of the number's country (429 sms_cap_reached beyond it). */
export async function countCountryText(ctx: AppContext, tenantId: string, phone: string): Promise<void> {
  const { sms } = await tenantPolicies(ctx, tenantId);
  const country = countryOf(phone);
  const cap = sms.country_hourly_caps[country] ?? sms.country_hourly_cap;
  const counted = await hit(ctx.db, `sms:country:${tenantId}:${country}`, HOUR_SECONDS, cap, ctx.clock.now());
  if (!counted.counted) {
    await capAudit(ctx, tenantId, 'country', country);
    throw smsCapReached('country', counted.retryAfter);
  }
}

/** Only the first refusal of each hour and cap is worth an event; the rest would flood the trail. */
async function capAudit(ctx: AppContext, tenantId: string, scope: 'tenant' | 'country', country: string): Promise<void> {
  const first = await spaced(ctx.db, `sms:audit:${tenantId}:${scope}:${scope === 'country' ? country : ''}`, HOUR_SECONDS, ctx.clock.now());
  if (!first.counted) return;
  await recordAudit(ctx.db, ctx, {
    action: 'iam.sms.capReached',
    actor: { type: 'system', id: null, ip: null, userAgent: null },
    tenantId,
    target: { type: 'tenant', id: tenantId },
    details: { scope, country },
  });
}

/**
 * A code sent again to the same passwordless login (`subject`) sooner
 * than the tenant's `resend_interval_seconds` after the last is refused with
 * `429 resend_too_soon` and `retry_after`. The subject is keyed (a fingerprint), so the
 * counters table holds no login or number.
 */
export async function assertResendSpacing(ctx: AppContext, tenantId: string | null, subject: string): Promise<void> {
  const key = `resend:${fingerprint(ctx.masterKey, 'resend-spacing', subject)}`;
  const result = await spaced(ctx.db, key, await resendIntervalOf(ctx, tenantId), ctx.clock.now());
  if (!result.counted) throw resendTooSoon(result.retryAfter);
}

/** The tenant's `sms.resend_interval_seconds` (the system tenant's for none). */
export async function resendIntervalOf(ctx: AppContext, tenantId: string | null): Promise<number> {
  const { sms } = await tenantPolicies(ctx, tenantId ?? (await systemTenantId(ctx.db)));
  return sms.resend_interval_seconds;
}

export const resendTooSoon = (retryAfter: number) =>
  new AppError('resend_too_soon', 'A code was sent a moment ago; wait before asking for another', { retry_after: retryAfter });
