import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { InjectOptions } from 'fastify';
import { decodeJwt } from 'jose';
import { createGatehouse, type Gatehouse } from '../../src/main/gatehouse.js';
import { type Config, parseConfig } from '../../src/platform/config.js';
import type { Database } from '../../src/platform/db/schema.js';
import type { Clock } from '../../src/platform/ids.js';
import { createLogger } from '../../src/platform/logger.js';
import { freshDatabase } from './database.js';

export const ISSUER = 'http://gatehouse.test';
export const ADMIN_EMAIL = 'admin@gatehouse.test';
export const ADMIN_PASSWORD = 'admin-password-for-tests';
export const PASSWORD = 'a-long-test-password';

export interface Response<T = any> {
  status: number;
  body: T;
  headers: Record<string, unknown>;
}

/** One event of GET /api/v1/audit-events, as the API returns it. */
export interface AuditEventBody {
  id: string;
  created_at: string;
  tenant_id: string | null;
  action: string;
  outcome: string;
  actor_type: string;
  actor_id: string | null;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  details: Record<string, unknown>;
}

/** A tenant with its administrator, signed in: what tenantWithAdmin returns. */
export interface TenantAdmin {
  tenantId: string;
  adminId: string;
  adminEmail: string;
  /** The administrator's access token for the tenant. */
  token: string;
}

/** One member of GET /api/v1/tenants/:id/members, as the API returns it. */
export interface MemberBody {
  user_id: string;
  tenant_id: string;
  email: string;
  name: string | null;
  status: string;
  roles: { id: string; name: string }[];
  permissions: string[];
  /** The tenant's groups the member belongs to (decision 360). */
  groups: { id: string; name: string }[];
  effective_permissions: string[];
  /** Where each effective permission comes from: `role:<name>`, `group:<name>`, `direct` (decision 364). */
  permission_sources: { permission: string; from: string[] }[];
  /** Where the account is homed, seen from the tenant (decision 182). */
  home_tenant: 'this' | 'elsewhere' | 'none';
  /** Whether the caller may change the account (decision 180). */
  managed: boolean;
  created_at: string;
}

export interface TestGatehouse extends Gatehouse {
  /** Every log line the server wrote, for the no-secrets-in-logs invariant. */
  logs: string[];
  request<T = any>(
    method: InjectOptions['method'],
    url: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<Response<T>>;
  /** Signs in and returns the session token. */
  signIn(username: string, password: string): Promise<string>;
  /** Session token → access token for one organization. */
  tokenFor(sessionToken: string, organization: string): Promise<string>;
  /** Access token of the first system administrator, for the system tenant. */
  adminToken(): Promise<string>;
  /** The first system administrator: an access token for the system tenant, the user id, and that tenant's id. */
  systemAdmin(): Promise<{ token: string; id: string; systemTenantId: string }>;
  /** A new tenant with a tenant administrator (TENANT_ADMIN) homed in it, signed in. */
  tenantWithAdmin(slug: string): Promise<TenantAdmin>;
  /** Creates a user through the API with the given token; returns its id. */
  createUser(token: string, body: Record<string, unknown>): Promise<string>;
  /** POST that must answer 201 (else throws with status and body); returns the created body. */
  created<T = any>(path: string, token: string, body: unknown, headers?: Record<string, string>): Promise<T>;
  /** Names → ids of the global roles (ADMIN, TENANT_ADMIN, USER, …), from GET /api/v1/roles with the admin token. */
  systemRoleIds(): Promise<Record<string, string>>;
  /** GET /api/v1/audit-events with the query, which must answer 200 (else throws with the body); returns the events. */
  auditEvents(token: string, query: Record<string, string>): Promise<AuditEventBody[]>;
  /** GET /api/v1/tenants/:id/members?limit=200 with `token`, which must answer 200 (else throws with the body); returns the members. */
  members(token: string, tenantId: string): Promise<MemberBody[]>;
  /** How many rows the table holds, read straight from the database. */
  rowCount(table: keyof Database): Promise<number>;
  stop(): Promise<void>;
}

export interface StartOptions {
  issuer?: string;
  /** The clock the server reads (default: the system clock). */
  clock?: Clock;
  /**
   * A second node: another Gatehouse (own caches, own key store) on the database and with
   * the configuration of that one. Its `stop` leaves the database to the first.
   */
  sameDatabaseAs?: TestGatehouse;
  /** Configuration keys on top of the test defaults (e.g. `webhookAllowedNetworks`, `amqpUrl`). */
  config?: Record<string, string>;
  /** NODE_ENV=production (SMTP at a closed port unless `config.smtpUrl` says otherwise; nothing is sent with background loops off). */
  production?: boolean;
}

/** The given configuration keys, parsed and validated, without the defaults of the others. */
function configKeys(raw: Record<string, string>): Partial<Config> {
  const parsed = parseConfig(raw, false) as unknown as Record<string, unknown>;
  return Object.fromEntries(Object.keys(raw).map((key) => [key, parsed[key]]));
}

/** A Gatehouse on a fresh database, driven in-process through Fastify's inject. */
export async function startGatehouse(overrides: StartOptions = {}): Promise<TestGatehouse> {
  const shared = overrides.sameDatabaseAs;
  const { db, drop } = shared ? { db: shared.ctx.db, drop: async () => {} } : await freshDatabase();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const config = shared
    ? { ...shared.ctx.config, ...configKeys(overrides.config ?? {}) }
    : parseConfig(
        {
          issuer: overrides.issuer ?? ISSUER,
          masterKey: randomBytes(32).toString('base64'),
          adminEmail: ADMIN_EMAIL,
          adminPassword: ADMIN_PASSWORD,
          logLevel: 'debug',
          dataDir: '/nonexistent',
          ...(overrides.production && { smtpUrl: 'smtp://127.0.0.1:9' }),
          ...overrides.config,
        },
        overrides.production ?? false,
      );
  const gatehouse = await createGatehouse(config, {
    db,
    // Tests run delivery passes themselves (gh.delivery.deliverPending()).
    background: false,
    log: createLogger(config, sink),
    ...(overrides.clock && { clock: overrides.clock }),
  });
  const { app } = gatehouse;

  const request: TestGatehouse['request'] = async (method, url, options = {}) => {
    const response = await app.inject({
      method,
      url,
      headers: {
        ...(options.token && { authorization: `Bearer ${options.token}` }),
        ...(options.body !== undefined && { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body !== undefined && { payload: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
    });
    const text = response.body;
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  };

  const expectOk = <T>(response: Response<T>, what: string) => {
    if (response.status >= 300) throw new Error(`${what}: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  };

  /** Names → ids of the global roles, listed with `token`. */
  const globalRoleIds = async (token: string): Promise<Record<string, string>> => {
    const roles = expectOk(await request('GET', '/api/v1/roles', { token }), 'roles').roles as {
      id: string;
      name: string;
      tenant_id: string | null;
    }[];
    return Object.fromEntries(roles.filter((r) => r.tenant_id === null).map((r) => [r.name, r.id]));
  };

  const self: TestGatehouse = {
    ...gatehouse,
    logs,
    request,
    async signIn(username, password) {
      return expectOk(await request('POST', '/api/v1/session', { body: { username, password } }), 'sign-in').token;
    },
    async tokenFor(sessionToken, organization) {
      return expectOk(await request('POST', '/api/v1/token', { token: sessionToken, body: { organization } }), 'token').token;
    },
    async systemAdmin() {
      const token = await self.adminToken();
      const claims = decodeJwt(token);
      return { token, id: claims.sub!, systemTenantId: claims.org_id as string };
    },
    async adminToken() {
      return self.tokenFor(await self.signIn(ADMIN_EMAIL, ADMIN_PASSWORD), 'system');
    },
    async createUser(token, body) {
      return expectOk(await request('POST', '/api/v1/users', { token, body }), 'create user').id;
    },
    async created(path, token, body, headers) {
      const response = await request('POST', path, { token, body, headers });
      if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body;
    },
    async systemRoleIds() {
      return globalRoleIds(await self.adminToken());
    },
    async auditEvents(token, query) {
      const response = await request('GET', `/api/v1/audit-events?${new URLSearchParams(query)}`, { token });
      if (response.status !== 200) throw new Error(`audit events: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body.events;
    },
    async members(token, tenantId) {
      const response = await request('GET', `/api/v1/tenants/${tenantId}/members?limit=200`, { token });
      if (response.status !== 200) throw new Error(`members: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body.members;
    },
    async rowCount(table) {
      const row = await gatehouse.ctx.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async tenantWithAdmin(slug) {
      const admin = await self.adminToken();
      const tenant = expectOk(
        await request('POST', '/api/v1/tenants', { token: admin, body: { slug, name: slug.toUpperCase() } }),
        'tenant',
      );
      const tenantAdminRole = (await globalRoleIds(admin)).TENANT_ADMIN!;
      const adminEmail = `admin@${slug}.test`;
      const adminId = await self.createUser(admin, {
        email: adminEmail,
        password: PASSWORD,
        tenant: tenant.id,
        roles: [tenantAdminRole],
      });
      const token = await self.tokenFor(await self.signIn(adminEmail, PASSWORD), tenant.id);
      return { tenantId: tenant.id, adminId, adminEmail, token };
    },
    async stop() {
      await app.close(); // stops the background loops too
      await drop();
      await gatehouse.ctx.passwords.close();
    },
  };
  return self;
}

/** Follows `next_cursor` through every page of a list with the given page size; returns the ids in order. */
export async function walkPages(gh: TestGatehouse, token: string, path: string, key: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const url: string = `${path}${separator}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await gh.request('GET', url, { token });
    if (page.status !== 200) throw new Error(`GET ${url}: ${page.status} ${JSON.stringify(page.body)}`);
    if (page.body[key].length > limit) throw new Error(`GET ${url}: more than ${limit} items`);
    ids.push(...page.body[key].map((item: { id: string }) => item.id));
    cursor = page.body.next_cursor;
  } while (cursor);
  return ids;
}
