import { listedTenant, type Scope } from '../../directory/permissions/effective.js';
import type { AppContext } from '../../platform/context.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { AuditEvent } from '../../platform/db/schema.js';

export interface AuditFilter {
  tenant?: string | undefined;
  actor?: string | undefined;
  target?: string | undefined;
  action?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

/** Newest first. A tenant administrator sees only the own tenant's events. */
export async function listAuditEvents(ctx: AppContext, scope: Scope, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEvent>> {
  const tenantId = listedTenant(scope, filter.tenant);
  return paginate(
    page,
    DEFAULT_LIMIT,
    (e) => e.id,
    async (fetch, before) => {
      let query = ctx.db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(fetch);
      if (tenantId) query = query.where('tenant_id', '=', tenantId);
      if (filter.actor) query = query.where('actor_id', '=', filter.actor);
      if (filter.target) query = query.where('target_id', '=', filter.target);
      if (filter.action) query = query.where('action', '=', filter.action);
      if (filter.from) query = query.where('created_at', '>=', new Date(filter.from));
      if (filter.to) query = query.where('created_at', '<', new Date(filter.to));
      if (before) query = query.where('id', '<', before);
      return query.execute();
    },
  );
}
