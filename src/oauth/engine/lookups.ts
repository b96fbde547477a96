import type { AdapterPayload } from 'oidc-provider';
import { systemTenantId } from '../../directory/permissions/effective.js';
import type { AuditBuffer } from '../../platform/audit/buffer.js';
import type { AppContext } from '../../platform/context.js';
import type { ChangeTopic } from '../../platform/db/change-feed.js';
import type { Tenant } from '../../platform/db/schema.js';
import { ShortCache } from '../../platform/short-cache.js';
import { type ApiInfo, clientGrantPermissions, findApi } from './api-queries.js';
import { clientMetadata } from './clients.js';
import { grantOrganization } from './organizations.js';

/**
 * What a node read of applications, APIs and client grants is kept until any node changes
 * them (ctx.changes drops it at the commit), and this long at most: the token endpoint reads
 * them on every request (docs/architecture.md#nodes-and-caches).
 */
export const LOOKUP_TTL_MS = 2_000;
/** What the engine looks up on every token request, read through short-lived caches. */
export interface Lookups {
  client(clientId: string): Promise<AdapterPayload | undefined>;
  api(identifier: string): Promise<ApiInfo | undefined>;
  clientGrant(clientId: string, apiId: string): Promise<string[] | undefined>;
  /** A grant's organization (a tenant row: its status too), dropped when either changes. */
  grantOrganization(grantId: string | undefined): Promise<Tenant | undefined>;
  /** Whether an application belongs to the system tenant (a platform application). */
  isPlatform(tenantId: string): Promise<boolean>;
}

export function createLookups(ctx: AppContext): Lookups {
  const cache = <V>(...topics: ChangeTopic[]) => new ShortCache<V>(LOOKUP_TTL_MS, { feed: ctx.changes, topics });
  const clients = cache<AdapterPayload | undefined>('applications', 'tenants');
  const apis = cache<ApiInfo | undefined>('apis', 'api_permissions');
  const grants = cache<string[] | undefined>('application_grants', 'application_grant_permissions', 'applications');
  const organizations = cache<Tenant | undefined>('oauth_grant_organizations', 'tenants');
  // The system tenant is made once; a restore brings another one.
  const systemTenants = cache<string>('tenants');
  return {
    client: (clientId) => clients.get(clientId, () => clientMetadata(ctx.db, clientId, ctx.config.tokenExchange)),
    api: (identifier) => apis.get(identifier, () => findApi(ctx.db, ctx.masterKey, identifier)),
    clientGrant: (clientId, apiId) => grants.get(`${clientId}\0${apiId}`, () => clientGrantPermissions(ctx.db, clientId, apiId)),
    grantOrganization: async (grantId) => (grantId ? organizations.get(grantId, () => grantOrganization(ctx, grantId)) : undefined),
    isPlatform: async (tenantId) => tenantId === (await systemTenants.get('system', () => systemTenantId(ctx.db))),
  };
}

/** The context every part of the engine works with: the application's, plus the lookups and the audit buffer. */
/**
 * What the engine calls in a layer above it, wired by src/main/routes.ts (the engine must
 * not import the flows): the proof of Auth0's passwordless OTP grant (src/flows/auth0/).
 */
export interface EngineHooks {
  proveOtp?: (
    input: { clientId: string; realm: string; username: string; otp: string },
    actor: { type: 'anonymous'; id: null; ip: string | null; userAgent: string | null },
  ) => Promise<{ userId: string; amr: string[] }>;
}

export type OidcContext = AppContext & { lookups: Lookups; auditBuffer: AuditBuffer; hooks: EngineHooks };
