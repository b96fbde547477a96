import { isRestricted, SYSTEM_PERMISSIONS } from '../../directory/permissions/catalog.js';
import { assertDelegable, assertOutranks, type Scope, systemTenantId } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import { AppError, notFound } from '../../platform/errors.js';
import { getApplication, lockApplication } from './applications.js';

/**
 * A machine application's grant of Gatehouse's own admin API (decision 400): Auth0's client
 * grant of its Management API. The application then gets tokens for the admin API with
 * client credentials (`audience` = the issuer, or `{issuer}/api/v2/`), and acts in its own
 * tenant with these permissions, as an administrator holding them would; the admin API reads
 * the grant afresh on every call. Grant only what you hold (decision 20): the caller must hold
 * every permission it grants, and restricted ones go only to applications of the system
 * tenant, where alone they count.
 */
export interface AdminGrant {
  application_id: string;
  permissions: string[];
  created_at: Date;
  updated_at: Date;
}

export async function getAdminGrant(ctx: AppContext, scope: Scope, applicationId: string): Promise<AdminGrant> {
  await getApplication(ctx, scope, applicationId);
  return readAdminGrant(ctx.db, applicationId);
}

/** Creates or replaces the grant; `created` says which. */
export async function putAdminGrant(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  applicationId: string,
  permissions: readonly string[],
): Promise<{ grant: AdminGrant; created: boolean }> {
  const keys = [...new Set(permissions)].sort();
  const unknown = keys.filter((key) => !(key in SYSTEM_PERMISSIONS));
  if (unknown.length > 0) {
    throw new AppError('unknown_permission', 'The admin API is granted Gatehouse permissions (GET /api/v1/permissions)', {
      permissions: unknown,
    });
  }
  return ctx.db.transaction().execute(async (trx) => {
    const application = await lockApplication(trx, scope, applicationId);
    if (!application.grant_types.includes('client_credentials')) {
      throw new AppError('grant_not_allowed', 'Only applications with the client_credentials grant get the admin API', {
        grant_types: application.grant_types,
      });
    }
    assertDelegable(scope, keys);
    if (keys.some(isRestricted) && application.tenant_id !== (await systemTenantId(trx))) {
      throw new AppError('restricted_permission', 'Restricted permissions count only for applications of the system tenant', {
        permissions: keys.filter(isRestricted),
      });
    }
    const now = ctx.clock.now();
    const existing = await trx
      .selectFrom('application_admin_grants')
      .select(['application_id', 'permissions'])
      .where('application_id', '=', applicationId)
      .executeTakeFirst();
    // Least privilege's other half (decision 20): a narrow caller does not demote a broader machine either.
    if (existing) assertOutranks(scope, existing.permissions);
    if (existing) {
      await trx
        .updateTable('application_admin_grants')
        .set({ permissions: keys, updated_at: now })
        .where('application_id', '=', applicationId)
        .execute();
    } else {
      await trx
        .insertInto('application_admin_grants')
        .values({ application_id: applicationId, permissions: keys, created_at: now, updated_at: now })
        .execute();
    }
    await recordAudit(trx, ctx, {
      action: existing ? 'iam.application.grantModified' : 'iam.application.grantCreated',
      actor,
      tenantId: application.tenant_id,
      target: { type: 'application', id: applicationId },
      details: { admin_api: true, permissions: keys },
    });
    return { grant: await readAdminGrant(trx, applicationId), created: !existing };
  });
}

export async function deleteAdminGrant(ctx: AppContext, scope: Scope, actor: Actor, applicationId: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const application = await lockApplication(trx, scope, applicationId);
    const existing = await trx
      .selectFrom('application_admin_grants')
      .select('permissions')
      .where('application_id', '=', applicationId)
      .executeTakeFirst();
    if (existing) assertOutranks(scope, existing.permissions);
    const removed = await trx.deleteFrom('application_admin_grants').where('application_id', '=', applicationId).executeTakeFirst();
    if (removed.numDeletedRows === 0n) throw notFound('Admin API grant');
    await recordAudit(trx, ctx, {
      action: 'iam.application.grantDeleted',
      actor,
      tenantId: application.tenant_id,
      target: { type: 'application', id: applicationId },
      details: { admin_api: true },
    });
  });
}

/** The admin grants of some applications (for lists), keyed by application id. */
export async function adminGrantsOf(db: Db, applicationIds: readonly string[]): Promise<Map<string, AdminGrant>> {
  if (applicationIds.length === 0) return new Map();
  const rows = await db.selectFrom('application_admin_grants').selectAll().where('application_id', 'in', applicationIds).execute();
  return new Map(rows.map((row) => [row.application_id, row]));
}

async function readAdminGrant(db: Db, applicationId: string): Promise<AdminGrant> {
  const grant = await db.selectFrom('application_admin_grants').selectAll().where('application_id', '=', applicationId).executeTakeFirst();
  if (!grant) throw notFound('Admin API grant');
  return grant;
}
