import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { isUniqueViolation } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Tenant, TenantStatus } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import type { Branding } from '../../platform/web/html.js';
import { inScope, type Scope } from '../permissions/effective.js';

export interface TenantInput {
  slug: string;
  name: string;
  status?: TenantStatus;
  branding?: Branding;
}

export type TenantPatch = Partial<TenantInput>;

export async function getTenant(ctx: AppContext, scope: Scope, id: string): Promise<Tenant> {
  const tenant = await ctx.db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
  if (!tenant || !inScope(scope, tenant.id)) throw notFound('Tenant');
  return tenant;
}

export async function listTenants(ctx: AppContext, scope: Scope, page: PageRequest): Promise<Page<Tenant>> {
  return paginate(
    page,
    DEFAULT_LIMIT,
    (t) => t.id,
    async (fetch, after) => {
      let query = ctx.db.selectFrom('tenants').selectAll().orderBy('id').limit(fetch);
      if (scope.kind === 'tenant') query = query.where('id', '=', scope.tenantId);
      if (after) query = query.where('id', '>', after);
      return query.execute();
    },
  );
}

export async function createTenant(ctx: AppContext, actor: Actor, input: TenantInput): Promise<Tenant> {
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const tenant = await trx
      .insertInto('tenants')
      .values({
        id: ctx.ids.next(),
        slug: input.slug,
        name: input.name,
        status: input.status ?? 'active',
        branding: JSON.stringify(input.branding ?? {}),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(rethrowSlugTaken);
    await recordAudit(trx, ctx, {
      action: 'iam.tenant.created',
      actor,
      tenantId: tenant.id,
      target: { type: 'tenant', id: tenant.id },
      details: { slug: tenant.slug },
    });
    return tenant;
  });
}

/**
 * System administrators change anything but the system tenant's status; a tenant
 * administrator changes only the own tenant's profile (name, branding).
 */
export async function updateTenant(ctx: AppContext, scope: Scope, actor: Actor, id: string, patch: TenantPatch): Promise<Tenant> {
  const tenant = await getTenant(ctx, scope, id);
  if (scope.kind === 'tenant' && (patch.slug !== undefined || patch.status !== undefined)) {
    throw new AppError('forbidden', 'Only a system administrator changes a tenant’s slug or status');
  }
  if (tenant.is_system && (patch.status === 'suspended' || (patch.slug !== undefined && patch.slug !== tenant.slug))) {
    throw new AppError('system_resource', 'The system tenant cannot be suspended or renamed');
  }
  return ctx.db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('tenants')
      .set({
        ...(patch.slug !== undefined && { slug: patch.slug }),
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.status !== undefined && { status: patch.status }),
        ...(patch.branding !== undefined && { branding: JSON.stringify(patch.branding) }),
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow()
      .catch(rethrowSlugTaken);
    await recordAudit(trx, ctx, {
      action: 'iam.tenant.modified',
      actor,
      tenantId: id,
      target: { type: 'tenant', id },
      details: { fields: Object.keys(patch) },
    });
    return updated;
  });
}

/** Deletes a tenant with its memberships, roles and permissions; its users stay, homeless. */
export async function deleteTenant(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  const tenant = await getTenant(ctx, scope, id);
  if (tenant.is_system) throw new AppError('system_resource', 'The system tenant cannot be deleted');
  await ctx.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('tenants').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.tenant.deleted',
      actor,
      tenantId: id,
      target: { type: 'tenant', id },
      details: { slug: tenant.slug },
    });
  });
}

function rethrowSlugTaken(error: unknown): never {
  if (isUniqueViolation(error, 'tenants_slug_key')) throw new AppError('slug_taken', 'A tenant with this slug exists');
  throw error;
}
