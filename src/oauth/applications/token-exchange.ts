import type { Scope } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import type { ExchangeUse } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { getApplication, lockApplication } from './applications.js';
import { isConfidential } from './rules.js';

/**
 * Which tokens an application may exchange (RFC 8693, decision 431), by API identifier:
 * `subject_audiences`, the APIs it serves (a user's token for one of them is what it may
 * exchange); `target_audiences`, the APIs it may then call on the user's behalf
 * (delegation); `impersonation_audiences`, the APIs an administrator's impersonation
 * through it may reach (a platform application's only, decision 432). Every API is of the
 * application's own tenant; an HS256 API is never a subject audience.
 */
export interface ExchangeSettings {
  subject_audiences: string[];
  target_audiences: string[];
  impersonation_audiences: string[];
}

const FIELDS: Record<ExchangeUse, keyof ExchangeSettings> = {
  subject: 'subject_audiences',
  target: 'target_audiences',
  impersonation: 'impersonation_audiences',
};

async function isSystemTenant(db: Db, tenantId: string): Promise<boolean> {
  const tenant = await db.selectFrom('tenants').select('is_system').where('id', '=', tenantId).executeTakeFirst();
  return tenant?.is_system === true;
}

async function readSettings(db: Db, applicationId: string): Promise<ExchangeSettings> {
  const rows = await db
    .selectFrom('application_exchange_apis as x')
    .innerJoin('apis as a', 'a.id', 'x.api_id')
    .select(['x.use', 'a.identifier'])
    .where('x.application_id', '=', applicationId)
    .orderBy('a.identifier')
    .execute();
  const settings: ExchangeSettings = { subject_audiences: [], target_audiences: [], impersonation_audiences: [] };
  for (const row of rows) settings[FIELDS[row.use]].push(row.identifier);
  return settings;
}

export async function getExchangeSettings(ctx: AppContext, scope: Scope, applicationId: string): Promise<ExchangeSettings> {
  await getApplication(ctx, scope, applicationId);
  return readSettings(ctx.db, applicationId);
}

/**
 * Replaces the settings. Only a confidential application exchanges tokens (it proves who
 * exchanges), and an identifier that is not an API of the application's own tenant is
 * refused as unknown, whether it exists elsewhere or not (a tenant learns nothing of
 * another's APIs, decision 5).
 */
export async function setExchangeSettings(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  applicationId: string,
  input: ExchangeSettings,
): Promise<ExchangeSettings> {
  return ctx.db.transaction().execute(async (trx) => {
    const application = await lockApplication(trx, scope, applicationId);
    if (!isConfidential(application.type)) {
      throw new AppError('public_client', `A ${application.type} application is a public client and cannot exchange tokens`);
    }
    const wanted = new Set(Object.values(FIELDS).flatMap((field) => input[field]));
    const apis =
      wanted.size === 0
        ? []
        : await trx
            .selectFrom('apis')
            .select(['id', 'identifier', 'signing_alg'])
            .where('tenant_id', '=', application.tenant_id)
            .where('identifier', 'in', [...wanted])
            .execute();
    const idOf = new Map(apis.map((api) => [api.identifier, api.id]));
    const unknown = [...wanted].filter((identifier) => !idOf.has(identifier));
    if (unknown.length > 0) {
      throw new AppError('unknown_api', 'No API of the application’s tenant has these identifiers', { identifiers: unknown });
    }
    // An HS256 API's tokens are never exchanged (its secret's holders could write any claims): refused when saved, not at each exchange.
    const hs256 = apis.filter((api) => api.signing_alg === 'HS256' && input.subject_audiences.includes(api.identifier));
    if (hs256.length > 0) {
      throw new AppError(
        'hs256_subject_api',
        'An API signed with a shared secret (HS256) cannot be a subject audience: only tokens signed by Gatehouse’s keys are exchanged',
        { identifiers: hs256.map((api) => api.identifier) },
      );
    }
    // Impersonation goes through platform applications only (decision 432): the administrator's token never reaches a tenant's application.
    if (input.impersonation_audiences.length > 0 && !(await isSystemTenant(trx, application.tenant_id))) {
      throw new AppError(
        'impersonation_platform_only',
        'Only an application of the system tenant (a platform application) may impersonate: impersonation_audiences must be empty',
      );
    }
    await trx.deleteFrom('application_exchange_apis').where('application_id', '=', applicationId).execute();
    const rows = (Object.entries(FIELDS) as [ExchangeUse, keyof ExchangeSettings][]).flatMap(([use, field]) =>
      [...new Set(input[field])].map((identifier) => ({ application_id: applicationId, api_id: idOf.get(identifier) as string, use })),
    );
    if (rows.length > 0) await trx.insertInto('application_exchange_apis').values(rows).execute();
    const settings = await readSettings(trx, applicationId);
    await recordAudit(trx, ctx, {
      action: 'iam.application.tokenExchangeModified',
      actor,
      tenantId: application.tenant_id,
      target: { type: 'application', id: applicationId },
      details: { client_id: application.client_id, ...settings },
    });
    return settings;
  });
}
