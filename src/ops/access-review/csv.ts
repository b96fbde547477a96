import { csvLine } from '../../platform/http/csv.js';
import type { TenantReview } from './review.js';

/** Every cell of the review is quoted. */
const line = (cells: (string | number | boolean | null)[]) => csvLine(cells, 'always');

export const CSV_HEADER = line([
  'kind',
  'tenant_id',
  'tenant_slug',
  'subject_id',
  'subject',
  'name',
  'status',
  'roles',
  'permissions',
  'administrator',
  'mfa_enrolled',
  'mfa_factors',
  'last_login_at',
  'flags',
]);

/**
 * The rows of one tenant's review: a `member` row per member (permissions as
 * `permission<source|source>` separated by `;`), an `application` row per machine
 * application (permissions as `api_identifier:permission`).
 */
export function csvRows(review: TenantReview): string {
  const { tenant } = review;
  let out = '';
  for (const m of review.members) {
    out += line([
      'member',
      tenant.id,
      tenant.slug,
      m.user_id,
      m.email,
      m.name,
      m.status,
      m.roles.join(';'),
      m.permissions.map((p) => `${p.permission}<${p.from.join('|')}>`).join(';'),
      m.administrator,
      m.mfa.enrolled,
      m.mfa.factors.join(';'),
      m.last_login_at?.toISOString() ?? null,
      m.flags.join(';'),
    ]);
  }
  for (const a of review.machine_applications) {
    out += line([
      'application',
      tenant.id,
      tenant.slug,
      a.application_id,
      a.client_id,
      a.name,
      null,
      null,
      a.grants
        .flatMap((g) => (g.permissions.length > 0 ? g.permissions.map((p) => `${g.api_identifier}:${p}`) : [g.api_identifier]))
        .join(';'),
      null,
      null,
      null,
      null,
      'machine_application',
    ]);
  }
  return out;
}
