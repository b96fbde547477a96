import { createSecretKey, type KeyObject } from 'node:crypto';
import type { Db } from '../../platform/db/database.js';
import type { SigningAlg } from '../../platform/db/schema.js';
import { apiSigningSecret } from '../apis/apis.js';

/**
 * What the engine reads of APIs and client grants, through the lookups' short caches
 * (lookups.ts); resources.ts turns an API into oidc-provider's resource server.
 */

/** An API (resource server) as the token engine needs it. */
export interface ApiInfo {
  id: string;
  tenantId: string;
  identifier: string;
  tokenLifetime: number;
  alg: SigningAlg;
  /** The HS256 shared secret; only for HS256 APIs. */
  secret?: KeyObject;
  rbac: boolean;
  permissionsInToken: boolean;
  /** Users' tokens carry `groups` (decision 365). */
  groupsInToken: boolean;
  permissions: string[];
}

export async function findApi(db: Db, masterKey: Buffer, identifier: string): Promise<ApiInfo | undefined> {
  const api = await db.selectFrom('apis').selectAll().where('identifier', '=', identifier).executeTakeFirst();
  if (!api) return undefined;
  const permissions = await db.selectFrom('api_permissions').select('value').where('api_id', '=', api.id).orderBy('value').execute();
  return {
    id: api.id,
    tenantId: api.tenant_id,
    identifier: api.identifier,
    tokenLifetime: api.token_lifetime,
    alg: api.signing_alg,
    ...(api.signing_secret_sealed && { secret: createSecretKey(Buffer.from(apiSigningSecret({ masterKey }, api) as string, 'utf8')) }),
    rbac: api.rbac,
    permissionsInToken: api.permissions_in_token,
    groupsInToken: api.token_groups_claim,
    permissions: permissions.map((p) => p.value),
  };
}

/** The permissions a machine application was granted for an API (Auth0's client grant); undefined without a grant. */
export async function clientGrantPermissions(db: Db, clientId: string, apiId: string): Promise<string[] | undefined> {
  const grant = await db
    .selectFrom('application_grants as g')
    .innerJoin('applications as a', 'a.id', 'g.application_id')
    .select('g.application_id')
    .where('a.client_id', '=', clientId)
    .where('g.api_id', '=', apiId)
    .executeTakeFirst();
  if (!grant) return undefined;
  const rows = await db
    .selectFrom('application_grant_permissions')
    .select('value')
    .where('application_id', '=', grant.application_id)
    .where('api_id', '=', apiId)
    .orderBy('value')
    .execute();
  return rows.map((r) => r.value);
}
