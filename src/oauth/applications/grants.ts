import { assertApiDelegable } from '../../directory/permissions/api-delegation.js';
import type { Scope } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import { LONG_LIST_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Application } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { findApi } from '../apis/apis.js';
import { assertApiPermissions } from '../apis/permissions.js';
import { getApplication, lockApplication } from './applications.js';

/** Auth0's client grant: a machine application may get tokens for this API, with these permissions. */
export interface ApplicationGrant {
  application_id: string;
  api_id: string;
  /** The API's identifier: the `audience` to ask for. */
  api_identifier: string;
  permissions: string[];
  created_at: Date;
}

export interface GrantInput {
  api_id: string;
  permissions: string[];
}

/** The application's grants, in the order of their APIs' ids. */
export async function listGrants(ctx: AppContext, scope: Scope, applicationId: string, page: PageRequest): Promise<Page<ApplicationGrant>> {
  await getApplication(ctx, scope, applicationId);
  const result = await paginate(
    page,
    LONG_LIST_LIMIT,
    (g: { api_id: string }) => g.api_id,
    async (fetch, after) =>
      ctx.db
        .selectFrom('application_grants as g')
        .innerJoin('apis as a', 'a.id', 'g.api_id')
        .select(['g.application_id', 'g.api_id', 'g.created_at', 'a.identifier as api_identifier'])
        .where('g.application_id', '=', applicationId)
        .$if(after !== undefined, (q) => q.where('g.api_id', '>', after as string))
        .orderBy('g.api_id')
        .limit(fetch)
        .execute(),
  );
  const permissions = await grantPermissions(
    ctx.db,
    applicationId,
    result.items.map((g) => g.api_id),
  );
  return { items: result.items.map((g) => ({ ...g, permissions: permissions.get(g.api_id) ?? [] })), next_cursor: result.next_cursor };
}

/**
 * Grants a client-credentials application access to an API of its own tenant (decision
 * 32: never across tenants, so the API's administrators see every client that reaches it).
 */
export async function createGrant(ctx: AppContext, scope: Scope, actor: Actor, applicationId: string, input: GrantInput) {
  return ctx.db.transaction().execute(async (trx) => {
    const application = await lockApplication(trx, scope, applicationId);
    assertMachineClient(application);
    const api = await findApi(trx, scope, input.api_id, 'share');
    if (api.tenant_id !== application.tenant_id) {
      throw new AppError('tenant_mismatch', 'The application and the API belong to different tenants', { api_id: api.id });
    }
    const permissions = await assertApiPermissions(trx, api.id, input.permissions);
    // A client grant grants API permissions: only those the caller holds (decision 194).
    await assertApiDelegable(
      trx,
      scope,
      permissions.map((value) => ({ api_id: api.id, value })),
    );
    const exists = await trx
      .selectFrom('application_grants')
      .select('api_id')
      .where('application_id', '=', applicationId)
      .where('api_id', '=', api.id)
      .executeTakeFirst();
    if (exists) throw new AppError('grant_exists', 'The application has a grant for this API; change it with PATCH');
    await trx
      .insertInto('application_grants')
      .values({ application_id: applicationId, api_id: api.id, created_at: ctx.clock.now() })
      .execute();
    await insertPermissions(trx, applicationId, api.id, permissions);
    await recordAudit(trx, ctx, {
      action: 'iam.application.grantCreated',
      actor,
      tenantId: application.tenant_id,
      target: { type: 'application', id: applicationId },
      details: { api_id: api.id, api_identifier: api.identifier, permissions },
    });
    return readGrant(trx, applicationId, api.id);
  });
}

/** Replaces the permissions of the grant. */
export async function updateGrant(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  applicationId: string,
  apiId: string,
  permissions: string[],
) {
  return ctx.db.transaction().execute(async (trx) => {
    const application = await lockApplication(trx, scope, applicationId);
    await readGrant(trx, applicationId, apiId);
    const values = await assertApiPermissions(trx, apiId, permissions);
    await assertApiDelegable(
      trx,
      scope,
      values.map((value) => ({ api_id: apiId, value })),
    );
    await trx.deleteFrom('application_grant_permissions').where('application_id', '=', applicationId).where('api_id', '=', apiId).execute();
    await insertPermissions(trx, applicationId, apiId, values);
    await recordAudit(trx, ctx, {
      action: 'iam.application.grantModified',
      actor,
      tenantId: application.tenant_id,
      target: { type: 'application', id: applicationId },
      details: { api_id: apiId, permissions: values },
    });
    return readGrant(trx, applicationId, apiId);
  });
}

export async function deleteGrant(ctx: AppContext, scope: Scope, actor: Actor, applicationId: string, apiId: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const application = await lockApplication(trx, scope, applicationId);
    await readGrant(trx, applicationId, apiId);
    await trx.deleteFrom('application_grants').where('application_id', '=', applicationId).where('api_id', '=', apiId).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.application.grantDeleted',
      actor,
      tenantId: application.tenant_id,
      target: { type: 'application', id: applicationId },
      details: { api_id: apiId },
    });
  });
}

function assertMachineClient(application: Application) {
  if (!application.grant_types.includes('client_credentials')) {
    throw new AppError('grant_not_allowed', 'Only applications with the client_credentials grant get API grants', {
      grant_types: application.grant_types,
    });
  }
}

async function readGrant(db: Db, applicationId: string, apiId: string): Promise<ApplicationGrant> {
  const grant = await db
    .selectFrom('application_grants as g')
    .innerJoin('apis as a', 'a.id', 'g.api_id')
    .select(['g.application_id', 'g.api_id', 'g.created_at', 'a.identifier as api_identifier'])
    .where('g.application_id', '=', applicationId)
    .where('g.api_id', '=', apiId)
    .executeTakeFirst();
  if (!grant) throw notFound('Grant');
  return { ...grant, permissions: (await grantPermissions(db, applicationId, [apiId])).get(apiId) ?? [] };
}

async function grantPermissions(db: Db, applicationId: string, apiIds: string[]): Promise<Map<string, string[]>> {
  const byApi = new Map<string, string[]>(apiIds.map((id) => [id, []]));
  if (apiIds.length === 0) return byApi;
  const rows = await db
    .selectFrom('application_grant_permissions')
    .select(['api_id', 'value'])
    .where('application_id', '=', applicationId)
    .where('api_id', 'in', apiIds)
    .orderBy('value')
    .execute();
  for (const row of rows) byApi.get(row.api_id)?.push(row.value);
  return byApi;
}

async function insertPermissions(db: Db, applicationId: string, apiId: string, values: readonly string[]) {
  if (values.length === 0) return;
  await db
    .insertInto('application_grant_permissions')
    .values(values.map((value) => ({ application_id: applicationId, api_id: apiId, value })))
    .execute();
}
