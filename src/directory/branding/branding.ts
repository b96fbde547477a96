import type { Kysely } from 'kysely';
import type { AppContext } from '../../platform/context.js';
import type { Database } from '../../platform/db/schema.js';
import type { Branding } from '../../platform/web/html.js';

/**
 * The branding of a tenant (its name, logo and colour), for the hosted pages and emails of
 * its applications and users (`db`: a transaction's, inside one). Undefined without a tenant.
 */
export async function brandingOf(
  ctx: AppContext,
  tenantId: string | null | undefined,
  db: Kysely<Database> = ctx.db,
): Promise<Branding | undefined> {
  if (!tenantId) return undefined;
  const tenant = await db.selectFrom('tenants').select(['name', 'branding']).where('id', '=', tenantId).executeTakeFirst();
  if (!tenant) return undefined;
  return { display_name: tenant.name, ...(tenant.branding as Branding) };
}
