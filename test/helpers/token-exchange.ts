import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import * as client from 'openid-client';
import type { Clock } from '../../src/platform/ids.js';
import { PASSWORD, type TenantAdmin, type TestGatehouse } from './gatehouse.js';
import { startListeningGatehouse } from './oidc.js';

/** RFC 8693's names, as a client library sends them. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const USER_ID_TYPE = 'urn:gatehouse:params:oauth:token-type:user_id';

/** A tenant administrator names its APIs in its own namespace. */
export const ORDERS = 'urn:gatehouse:acme:orders';
export const STOCK = 'urn:gatehouse:acme:stock';
export const GLOBEX_API = 'urn:gatehouse:globex:widgets';
/** An API of the system tenant: what a platform support tool impersonates for (decision 432). */
export const PLATFORM_API = 'urn:gatehouse:system:console';

export interface AppBody {
  id: string;
  client_id: string;
  client_secret: string;
}

/**
 * Two tenants, acme and globex, each with APIs and applications set up for token exchange:
 * acme's orders service serves ORDERS and may exchange to STOCK, its stock service serves
 * STOCK and may exchange to ORDERS (a chain); its own "support tool" is a confidential
 * application with the grant, which may not impersonate (only platform applications may);
 * the platform's support desk (an application of the system tenant) may impersonate for
 * PLATFORM_API; globex's service serves and targets globex's API. alice (acme) holds
 * read:orders and read:stock; bob (globex) holds read:widgets.
 */
export interface ExchangeWorld {
  gh: TestGatehouse & { issuer: string };
  admin: string;
  adminId: string;
  systemTenantId: string;
  acme: TenantAdmin;
  globex: TenantAdmin;
  apps: {
    front: AppBody;
    orders: AppBody;
    stock: AppBody;
    support: AppBody;
    desk: AppBody;
    globexFront: AppBody;
    globexService: AppBody;
  };
  alice: { id: string; email: string };
  bob: { id: string; email: string };
  /** The relying party's configuration of an application, discovered over HTTP with openid-client. */
  discover(app: AppBody): Promise<client.Configuration>;
  /** A user's access token for an API through a front application's password grant (openid-client). */
  userToken(front: AppBody, email: string, audience: string, scope?: string): Promise<string>;
}

export const world = {} as ExchangeWorld;

/** Registers, in the calling describe, the hooks that build the world and stop its server. */
export function exchangeWorld(config: Record<string, string> = {}, clock?: Clock): void {
  before(async () => {
    const gh = await startListeningGatehouse({ config, ...(clock && { clock }) });
    const { token: admin, id: adminId, systemTenantId } = await gh.systemAdmin();
    const acme = await gh.tenantWithAdmin('acme');
    const globex = await gh.tenantWithAdmin('globex');
    const api = (token: string, identifier: string, permissions: string[]) =>
      gh.created<{ id: string }>('/api/v1/apis', token, {
        identifier,
        name: identifier,
        rbac: true,
        permissions_in_token: true,
        permissions: permissions.map((value) => ({ value })),
      });
    const orders = await api(acme.token, ORDERS, ['read:orders', 'write:orders']);
    const stock = await api(acme.token, STOCK, ['read:stock', 'write:stock']);
    const widgets = await api(globex.token, GLOBEX_API, ['read:widgets']);
    await api(admin, PLATFORM_API, ['read:console']);
    const role = async (token: string, name: string, permissions: { api_id: string; value: string }[]) => {
      const { id } = await gh.created<{ id: string }>('/api/v1/roles', token, { name });
      const added = await gh.request('POST', `/api/v1/roles/${id}/api-permissions`, { token, body: { permissions } });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      return id;
    };
    const shopper = await role(acme.token, 'Shopper', [
      { api_id: orders.id, value: 'read:orders' },
      { api_id: stock.id, value: 'read:stock' },
    ]);
    const viewer = await role(globex.token, 'Viewer', [{ api_id: widgets.id, value: 'read:widgets' }]);
    const alice = { email: 'alice@acme.test', id: '' };
    alice.id = await gh.createUser(acme.token, { email: alice.email, password: PASSWORD, name: 'Alice', roles: [shopper] });
    const bob = { email: 'bob@globex.test', id: '' };
    bob.id = await gh.createUser(globex.token, { email: bob.email, password: PASSWORD, name: 'Bob', roles: [viewer] });

    const app = (token: string, body: Record<string, unknown>) => gh.created<AppBody>('/api/v1/applications', token, body);
    const settings = async (token: string, target: AppBody, body: Record<string, string[]>) => {
      const set = await gh.request('PUT', `/api/v1/applications/${target.id}/token-exchange`, {
        token,
        body: { subject_audiences: [], target_audiences: [], impersonation_audiences: [], ...body },
      });
      assert.equal(set.status, 200, JSON.stringify(set.body));
    };
    const apps = {
      front: await app(acme.token, { name: 'Shop front', type: 'web', grant_types: ['password'] }),
      orders: await app(acme.token, { name: 'Orders service', type: 'm2m', grant_types: [TOKEN_EXCHANGE] }),
      stock: await app(acme.token, { name: 'Stock service', type: 'm2m', grant_types: [TOKEN_EXCHANGE] }),
      support: await app(acme.token, { name: 'Acme support tool', type: 'web', grant_types: [TOKEN_EXCHANGE] }),
      // The platform's support tool: the support engineer signs in to it (password grant here) for Gatehouse's API.
      desk: await app(admin, { name: 'Support desk', type: 'web', grant_types: ['password', TOKEN_EXCHANGE] }),
      globexFront: await app(globex.token, { name: 'Globex front', type: 'web', grant_types: ['password'] }),
      globexService: await app(globex.token, { name: 'Globex service', type: 'm2m', grant_types: [TOKEN_EXCHANGE] }),
    };
    await settings(acme.token, apps.orders, { subject_audiences: [ORDERS], target_audiences: [STOCK] });
    await settings(acme.token, apps.stock, { subject_audiences: [STOCK], target_audiences: [ORDERS] });
    await settings(admin, apps.desk, { impersonation_audiences: [PLATFORM_API] });
    await settings(globex.token, apps.globexService, { subject_audiences: [GLOBEX_API], target_audiences: [GLOBEX_API] });

    const discover = (target: AppBody) =>
      client.discovery(new URL(gh.issuer), target.client_id, undefined, client.ClientSecretBasic(target.client_secret), {
        execute: [client.allowInsecureRequests],
      });
    const userToken = async (front: AppBody, email: string, audience: string, scope?: string) => {
      const tokens = await client.genericGrantRequest(await discover(front), 'password', {
        username: email,
        password: PASSWORD,
        audience,
        ...(scope && { scope }),
      });
      return tokens.access_token;
    };
    Object.assign(world, { gh, admin, adminId, systemTenantId, acme, globex, apps, alice, bob, discover, userToken });
  });
  after(() => world.gh.stop());
}

/** The OAuth error an openid-client call was answered with (it throws ResponseBodyError). */
export async function oauthError(call: Promise<unknown>): Promise<{ error: string; status: number; description?: string }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof client.ResponseBodyError) {
      return { error: error.error, status: error.status, ...(error.error_description && { description: error.error_description }) };
    }
    throw error;
  }
  assert.fail('the request was answered with tokens');
}
