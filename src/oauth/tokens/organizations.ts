import { sql } from 'kysely';
import type { AppContext } from '../../platform/context.js';

export interface Organization {
  id: string;
  slug: string;
  name: string;
  roles: string[];
}

/** OIH stage 2: the active tenants the user is a member of, with the role names held in each. */
export async function listOrganizations(ctx: AppContext, userId: string): Promise<Organization[]> {
  return (
    ctx.db
      .selectFrom('memberships as m')
      .innerJoin('tenants as t', 't.id', 'm.tenant_id')
      // The roles held there directly and through groups (decision 361), each once.
      .leftJoin('effective_roles as mr', (join) => join.onRef('mr.tenant_id', '=', 'm.tenant_id').onRef('mr.user_id', '=', 'm.user_id'))
      .leftJoin('roles as r', 'r.id', 'mr.role_id')
      .select([
        't.id',
        't.slug',
        't.name',
        sql<string[]>`coalesce(array_agg(distinct r.name order by r.name) filter (where r.name is not null), '{}')`.as('roles'),
      ])
      .where('m.user_id', '=', userId)
      .where('t.status', '=', 'active')
      .groupBy(['t.id', 't.slug', 't.name'])
      .orderBy('t.name')
      .execute()
  );
}
