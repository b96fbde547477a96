import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

const UNKNOWN_ID = '0190f5a0-0000-7000-8000-000000000000';

describe('Tenants API: /api/v1/tenants', () => {
  let gh: TestGatehouse;
  let admin: string;
  let adminId: string;
  let systemTenantId: string;
  /** A tenant with its administrator, shared by the tenant-administrator tests. */
  let a: TenantAdmin;
  let b: TenantAdmin;

  before(async () => {
    gh = await startGatehouse();
    ({ token: admin, id: adminId, systemTenantId } = await gh.systemAdmin());
    a = await gh.tenantWithAdmin('tenant-a');
    b = await gh.tenantWithAdmin('tenant-b');
  });
  after(() => gh.stop());

  const createTenant = (slug: string, extra: Record<string, unknown> = {}) =>
    gh.created<{ id: string; slug: string; name: string; status: string }>('/api/v1/tenants', admin, {
      slug,
      name: `Tenant ${slug}`,
      ...extra,
    });

  /** The events with this action about this target, as the system administrator sees them. */
  const auditEvents = (action: string, target: string) => gh.auditEvents(admin, { action, target });

  /** A user homed in the tenant with the plain USER role, signed in: their session token. */
  const memberSession = async (tenantId: string, email: string) => {
    await gh.createUser(admin, { email, password: PASSWORD, tenant: tenantId });
    return gh.signIn(email, PASSWORD);
  };

  describe('POST /api/v1/tenants', () => {
    it('lets a system administrator create a tenant: 201 with defaults, and records iam.tenant.created', async () => {
      const response = await gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'globex', name: 'Globex Corp' } });
      assert.equal(response.status, 201);
      const tenant = response.body;
      assert.match(tenant.id, /^[0-9a-f-]{36}$/);
      assert.equal(tenant.slug, 'globex');
      assert.equal(tenant.name, 'Globex Corp');
      assert.equal(tenant.status, 'active');
      assert.equal(tenant.is_system, false);
      assert.deepEqual(tenant.branding, {});
      assert.ok(Date.parse(tenant.created_at));
      assert.ok(Date.parse(tenant.updated_at));

      const read = await gh.request('GET', `/api/v1/tenants/${tenant.id}`, { token: admin });
      assert.deepEqual(read.body, tenant);

      const events = await auditEvents('iam.tenant.created', tenant.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, adminId);
      assert.equal(events[0]!.tenant_id, tenant.id);
      assert.equal(events[0]!.target_type, 'tenant');
      assert.equal(events[0]!.outcome, 'success');
      assert.deepEqual(events[0]!.details, { slug: 'globex' });
    });

    it('accepts an initial status and branding', async () => {
      const branding = { display_name: 'Initech', logo_url: 'https://initech.example/logo.png', primary_color: '#12AbEf' };
      const tenant = await createTenant('initech', { status: 'suspended', branding });
      const read = await gh.request('GET', `/api/v1/tenants/${tenant.id}`, { token: admin });
      assert.equal(read.body.status, 'suspended');
      assert.deepEqual(read.body.branding, branding);
    });

    it('enforces the slug rules: 2 to 63 lowercase letters, digits and inner hyphens', async () => {
      for (const slug of ['A', 'x', 'Acme', 'acme_corp', '-acme', 'acme-', 'ac me', 'a'.repeat(64), 'acmé']) {
        const response = await gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug, name: 'Bad slug' } });
        assert.equal(response.status, 400, slug);
        assert.equal(response.body.error, 'invalid_field', slug);
        assert.equal(response.body.details.field, 'slug', slug);
      }
      for (const slug of ['ab', 'a1', 'a-b-c', '42', 'a'.repeat(63)]) await createTenant(slug);
      const listed = await gh.request('GET', '/api/v1/tenants?limit=200', { token: admin });
      const slugs = listed.body.tenants.map((t: { slug: string }) => t.slug);
      for (const bad of ['A', 'x', 'Acme', 'acme_corp', '-acme', 'acme-']) assert.ok(!slugs.includes(bad), `${bad} was not written`);
    });

    it('answers 409 slug_taken for a slug in use, compared case-insensitively', async () => {
      await createTenant('dup-slug');
      const again = await gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'dup-slug', name: 'Another' } });
      assert.equal(again.status, 409);
      assert.equal(again.body.error, 'slug_taken');

      // A slug stored with capitals (e.g. by an import) still blocks its lowercase twin.
      const now = new Date();
      await gh.ctx.db
        .insertInto('tenants')
        .values({
          id: gh.ctx.ids.next(),
          slug: 'Legacy-Co',
          name: 'Legacy',
          status: 'active',
          branding: '{}',
          created_at: now,
          updated_at: now,
        })
        .execute();
      const twin = await gh.request('POST', '/api/v1/tenants', { token: admin, body: { slug: 'legacy-co', name: 'Twin' } });
      assert.equal(twin.status, 409);
      assert.equal(twin.body.error, 'slug_taken');

      const count = await gh.ctx.db
        .selectFrom('tenants')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where((eb) => eb(eb.fn('lower', ['slug']), 'in', ['dup-slug', 'legacy-co']))
        .executeTakeFirstOrThrow();
      assert.equal(Number(count.n), 2, 'no partial write');
    });

    it('rejects bad bodies with a code naming the problem', async () => {
      const cases: [unknown, string, string][] = [
        [{ slug: 'no-name' }, 'missing_field', 'name'],
        [{ name: 'No slug' }, 'missing_field', 'slug'],
        [{ slug: 'extra', name: 'Extra', color: 'red' }, 'unknown_field', 'color'],
        [{ slug: 'empty-name', name: '' }, 'invalid_field', 'name'],
        [{ slug: 42, name: 'Number' }, 'invalid_type', 'slug'],
        [{ slug: 'bad-status', name: 'X', status: 'deleted' }, 'invalid_field', 'status'],
        [{ slug: 'bad-logo', name: 'X', branding: { logo_url: 'javascript:alert(1)' } }, 'invalid_field', 'branding.logo_url'],
        [{ slug: 'bad-color', name: 'X', branding: { primary_color: 'red' } }, 'invalid_field', 'branding.primary_color'],
        [{ slug: 'bad-brand', name: 'X', branding: { stylesheet: 'body{}' } }, 'unknown_field', 'branding.stylesheet'],
        // An http: image would be blocked by the pages' CSP and show broken: refused on save.
        [{ slug: 'http-logo', name: 'X', branding: { logo_url: 'http://a.example/logo.png' } }, 'invalid_field', 'branding.logo_url'],
        [{ slug: 'http-icon', name: 'X', branding: { favicon_url: 'http://a.example/i.ico' } }, 'invalid_field', 'branding.favicon_url'],
        [
          { slug: 'css-escape', name: 'X', branding: { background_image_url: 'https://a.example/x.png");}body{color:red' } },
          'invalid_field',
          'branding.background_image_url',
        ],
        [{ slug: 'bad-font', name: 'X', branding: { font: 'Arial"; } body { x: "' } }, 'invalid_field', 'branding.font'],
        [{ slug: 'bad-radius', name: 'X', branding: { corner_radius: 99 } }, 'invalid_field', 'branding.corner_radius'],
        [{ slug: 'bad-theme', name: 'X', branding: { theme: 'neon' } }, 'invalid_field', 'branding.theme'],
        [{ slug: 'bad-lang', name: 'X', branding: { texts: { fr: {} } } }, 'unknown_field', 'branding.texts.fr'],
      ];
      for (const [body, error, field] of cases) {
        const response = await gh.request('POST', '/api/v1/tenants', { token: admin, body });
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(response.body.error, error, JSON.stringify(body));
        assert.equal(response.body.details.field, field, JSON.stringify(body));
      }
    });

    it('refuses a tenant administrator (403 forbidden) and writes nothing', async () => {
      const response = await gh.request('POST', '/api/v1/tenants', { token: a.token, body: { slug: 'by-tenant-admin', name: 'Nope' } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
      const row = await gh.ctx.db.selectFrom('tenants').select('id').where('slug', '=', 'by-tenant-admin').executeTakeFirst();
      assert.equal(row, undefined);
    });

    it('needs an access token: none → 401 unauthorized, a session token → 401 invalid_token', async () => {
      const none = await gh.request('POST', '/api/v1/tenants', { body: { slug: 'anon', name: 'Anon' } });
      assert.equal(none.status, 401);
      assert.equal(none.body.error, 'unauthorized');
      const session = await gh.signIn(ADMIN_EMAIL, ADMIN_PASSWORD);
      const withSession = await gh.request('POST', '/api/v1/tenants', { token: session, body: { slug: 'anon', name: 'Anon' } });
      assert.equal(withSession.status, 401);
      assert.equal(withSession.body.error, 'invalid_token');
    });
  });

  describe('GET /api/v1/tenants', () => {
    it('walks every tenant page by page with ?limit=2&cursor=, without duplicates or omissions', async () => {
      for (let i = 0; i < 5; i++) await createTenant(`page-${i}`);
      const all = await gh.request('GET', '/api/v1/tenants?limit=200', { token: admin });
      assert.equal(all.status, 200);
      assert.equal(all.body.next_cursor, null);
      const expected: string[] = all.body.tenants.map((t: { id: string }) => t.id);
      assert.ok(expected.length > 2 + 5, 'more tenants than one page holds');
      assert.ok(expected.includes(systemTenantId));

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const url: string = `/api/v1/tenants?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const page = await gh.request('GET', url, { token: admin });
        assert.equal(page.status, 200);
        assert.ok(page.body.tenants.length <= 2);
        assert.ok(page.body.tenants.length > 0, 'no empty page');
        seen.push(...page.body.tenants.map((t: { id: string }) => t.id));
        cursor = page.body.next_cursor;
        pages++;
      } while (cursor && pages < 100);
      assert.equal(new Set(seen).size, seen.length, 'no duplicates');
      assert.deepEqual(seen, expected, 'no omissions, same order');
      assert.equal(pages, Math.ceil(expected.length / 2));
    });

    it('answers 400 invalid_cursor for a cursor it did not issue, and 400 for a limit out of range', async () => {
      for (const cursor of ['garbage', Buffer.from('not-a-uuid').toString('base64url')]) {
        const response = await gh.request('GET', `/api/v1/tenants?cursor=${cursor}`, { token: admin });
        assert.equal(response.status, 400);
        assert.equal(response.body.error, 'invalid_cursor');
      }
      for (const limit of ['0', '201', 'many']) {
        const response = await gh.request('GET', `/api/v1/tenants?limit=${limit}`, { token: admin });
        assert.equal(response.status, 400, limit);
      }
    });

    it('shows a tenant administrator only the own tenant', async () => {
      const response = await gh.request('GET', '/api/v1/tenants', { token: a.token });
      assert.equal(response.status, 200);
      assert.deepEqual(
        response.body.tenants.map((t: { id: string }) => t.id),
        [a.tenantId],
      );
      assert.equal(response.body.next_cursor, null);
    });

    it('needs an access token (401 unauthorized without one)', async () => {
      const response = await gh.request('GET', '/api/v1/tenants');
      assert.equal(response.status, 401);
      assert.equal(response.body.error, 'unauthorized');
    });
  });

  describe('GET /api/v1/tenants/:id', () => {
    it('lets a system administrator read any tenant, the system tenant included', async () => {
      const system = await gh.request('GET', `/api/v1/tenants/${systemTenantId}`, { token: admin });
      assert.equal(system.status, 200);
      assert.equal(system.body.slug, 'system');
      assert.equal(system.body.is_system, true);
      const other = await gh.request('GET', `/api/v1/tenants/${b.tenantId}`, { token: admin });
      assert.equal(other.status, 200);
      assert.equal(other.body.slug, 'tenant-b');
      assert.equal(other.body.name, 'TENANT-B');
    });

    it('answers 404 for an unknown id and 400 invalid_id for a malformed one', async () => {
      const unknown = await gh.request('GET', `/api/v1/tenants/${UNKNOWN_ID}`, { token: admin });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, 'not_found');
      const malformed = await gh.request('GET', '/api/v1/tenants/tenant-a', { token: admin });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_id');
    });

    it('lets a tenant administrator read the own tenant but answers 404 for another tenant and the system tenant', async () => {
      const own = await gh.request('GET', `/api/v1/tenants/${a.tenantId}`, { token: a.token });
      assert.equal(own.status, 200);
      assert.equal(own.body.id, a.tenantId);
      for (const id of [b.tenantId, systemTenantId]) {
        const other = await gh.request('GET', `/api/v1/tenants/${id}`, { token: a.token });
        assert.equal(other.status, 404);
        assert.equal(other.body.error, 'not_found');
      }
    });
  });

  describe('PATCH /api/v1/tenants/:id', () => {
    it('lets a system administrator change name, slug, branding and status, and records iam.tenant.modified', async () => {
      const tenant = await createTenant('patch-me');
      const branding = { display_name: 'Patched', primary_color: '#000000' };
      const response = await gh.request('PATCH', `/api/v1/tenants/${tenant.id}`, {
        token: admin,
        body: { name: 'Patched Inc', slug: 'patched', branding, status: 'suspended' },
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.name, 'Patched Inc');
      assert.equal(response.body.slug, 'patched');
      assert.deepEqual(response.body.branding, branding);
      assert.equal(response.body.status, 'suspended');
      assert.ok(Date.parse(response.body.updated_at) >= Date.parse(response.body.created_at));

      const read = await gh.request('GET', `/api/v1/tenants/${tenant.id}`, { token: admin });
      assert.deepEqual(read.body, response.body);

      const events = await auditEvents('iam.tenant.modified', tenant.id);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, adminId);
      assert.deepEqual((events[0]!.details.fields as string[]).sort(), ['branding', 'name', 'slug', 'status']);
    });

    it('answers 409 slug_taken when renaming to a slug in use, and leaves the tenant unchanged', async () => {
      const tenant = await createTenant('rename-me');
      const response = await gh.request('PATCH', `/api/v1/tenants/${tenant.id}`, {
        token: admin,
        body: { slug: 'tenant-a', name: 'Renamed' },
      });
      assert.equal(response.status, 409);
      assert.equal(response.body.error, 'slug_taken');
      const read = await gh.request('GET', `/api/v1/tenants/${tenant.id}`, { token: admin });
      assert.equal(read.body.slug, 'rename-me');
      assert.equal(read.body.name, 'Tenant rename-me');
    });

    it('refuses to suspend the system tenant (403 system_resource)', async () => {
      const response = await gh.request('PATCH', `/api/v1/tenants/${systemTenantId}`, { token: admin, body: { status: 'suspended' } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'system_resource');
      const read = await gh.request('GET', `/api/v1/tenants/${systemTenantId}`, { token: admin });
      assert.equal(read.body.status, 'active');
      // The administrators still work.
      assert.equal((await gh.request('GET', '/api/v1/tenants', { token: admin })).status, 200);
    });

    it('answers 404 for an unknown tenant and 400 for a bad body', async () => {
      const unknown = await gh.request('PATCH', `/api/v1/tenants/${UNKNOWN_ID}`, { token: admin, body: { name: 'Ghost' } });
      assert.equal(unknown.status, 404);
      const extra = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}`, { token: admin, body: { is_system: true } });
      assert.equal(extra.status, 400);
      assert.equal(extra.body.error, 'unknown_field');
      const badColor = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}`, {
        token: admin,
        body: { branding: { primary_color: '#12' } },
      });
      assert.equal(badColor.status, 400);
      assert.equal(badColor.body.error, 'invalid_field');
    });

    it('lets a tenant administrator change the own tenant’s name and branding', async () => {
      const branding = { display_name: 'A Team', logo_url: 'https://a.example/logo.svg' };
      const response = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}`, {
        token: a.token,
        body: { name: 'A Renamed', branding },
      });
      assert.equal(response.status, 200);
      assert.equal(response.body.name, 'A Renamed');
      assert.deepEqual(response.body.branding, branding);
      assert.equal(response.body.slug, 'tenant-a');
      const events = await auditEvents('iam.tenant.modified', a.tenantId);
      assert.ok(events.some((e) => e.actor_id === a.adminId));
    });

    it('refuses a tenant administrator the slug and the status (403 forbidden), changing nothing', async () => {
      for (const body of [{ slug: 'tenant-a2' }, { status: 'suspended' }, { name: 'Sneaky', status: 'active' }]) {
        const response = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}`, { token: a.token, body });
        assert.equal(response.status, 403, JSON.stringify(body));
        assert.equal(response.body.error, 'forbidden');
      }
      const read = await gh.request('GET', `/api/v1/tenants/${a.tenantId}`, { token: admin });
      assert.equal(read.body.slug, 'tenant-a');
      assert.equal(read.body.status, 'active');
      assert.notEqual(read.body.name, 'Sneaky');
    });

    it('answers a tenant administrator 404 for another tenant, which stays unchanged', async () => {
      const response = await gh.request('PATCH', `/api/v1/tenants/${b.tenantId}`, { token: a.token, body: { name: 'Taken over' } });
      assert.equal(response.status, 404);
      assert.equal(response.body.error, 'not_found');
      const read = await gh.request('GET', `/api/v1/tenants/${b.tenantId}`, { token: admin });
      assert.equal(read.body.name, 'TENANT-B');
    });

    it('refuses a plain member (USER role) the profile update (403 forbidden)', async () => {
      const session = await memberSession(a.tenantId, 'plain@tenant-a.test');
      const token = await gh.tokenFor(session, a.tenantId);
      const read = await gh.request('GET', `/api/v1/tenants/${a.tenantId}`, { token });
      assert.equal(read.status, 200, 'USER holds tenant.profile.read');
      const response = await gh.request('PATCH', `/api/v1/tenants/${a.tenantId}`, { token, body: { name: 'Plain user was here' } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
    });
  });

  describe('suspending a tenant', () => {
    it('stops tokens for it (403 tenant_suspended) and ends its access tokens at once; reactivating restores them', async () => {
      const tenant = await createTenant('to-suspend');
      const session = await memberSession(tenant.id, 'member@to-suspend.test');
      const accessToken = await gh.tokenFor(session, tenant.id);
      assert.equal((await gh.request('GET', `/api/v1/tenants/${tenant.id}`, { token: accessToken })).status, 200);

      const suspend = await gh.request('PATCH', `/api/v1/tenants/${tenant.id}`, { token: admin, body: { status: 'suspended' } });
      assert.equal(suspend.status, 200);
      assert.equal(suspend.body.status, 'suspended');

      for (const organization of [tenant.id, 'to-suspend']) {
        const issued = await gh.request('POST', '/api/v1/token', { token: session, body: { organization } });
        assert.equal(issued.status, 403);
        assert.equal(issued.body.error, 'tenant_suspended');
      }
      const withOldToken = await gh.request('GET', `/api/v1/tenants/${tenant.id}`, { token: accessToken });
      assert.equal(withOldToken.status, 401);
      assert.equal(withOldToken.body.error, 'invalid_token');
      const orgs = await gh.request('GET', '/api/v1/organizations', { token: session });
      assert.deepEqual(orgs.body.organizations, []);

      await gh.request('PATCH', `/api/v1/tenants/${tenant.id}`, { token: admin, body: { status: 'active' } });
      const again = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: tenant.id } });
      assert.equal(again.status, 200);
      assert.equal((await gh.request('GET', `/api/v1/tenants/${tenant.id}`, { token: accessToken })).status, 200);
    });
  });

  describe('DELETE /api/v1/tenants/:id', () => {
    it('deletes a tenant (204) with its memberships, roles and permissions; its users stay, homeless', async () => {
      const doomed = await gh.tenantWithAdmin('doomed');
      const role = await gh.created('/api/v1/roles', admin, {
        name: 'auditor',
        permissions: ['tenant.audit.read'],
        tenant: doomed.tenantId,
      });
      await gh.created('/api/v1/permission', admin, { key: 'doomed:read', tenant: doomed.tenantId });
      // A user homed elsewhere who is also a member of the doomed tenant.
      const guestId = await gh.createUser(admin, { email: 'guest@tenant-b.test', password: PASSWORD, tenant: b.tenantId });
      await gh.created(`/api/v1/tenants/${doomed.tenantId}/members`, admin, {
        userId: guestId,
        roles: [role.id],
        permissions: ['doomed:read'],
      });

      const response = await gh.request('DELETE', `/api/v1/tenants/${doomed.tenantId}`, { token: admin });
      assert.equal(response.status, 204);
      assert.equal(response.body, undefined);

      const read = await gh.request('GET', `/api/v1/tenants/${doomed.tenantId}`, { token: admin });
      assert.equal(read.status, 404);
      const db = gh.ctx.db;
      assert.deepEqual(await db.selectFrom('memberships').select('user_id').where('tenant_id', '=', doomed.tenantId).execute(), []);
      assert.deepEqual(await db.selectFrom('membership_roles').select('user_id').where('tenant_id', '=', doomed.tenantId).execute(), []);
      assert.deepEqual(
        await db.selectFrom('membership_permissions').select('user_id').where('tenant_id', '=', doomed.tenantId).execute(),
        [],
      );
      assert.deepEqual(await db.selectFrom('roles').select('id').where('tenant_id', '=', doomed.tenantId).execute(), []);
      assert.deepEqual(await db.selectFrom('permissions').select('id').where('tenant_id', '=', doomed.tenantId).execute(), []);
      assert.equal((await gh.request('GET', `/api/v1/roles/${role.id}`, { token: admin })).status, 404);

      const homed = await gh.request('GET', `/api/v1/users/${doomed.adminId}`, { token: admin });
      assert.equal(homed.status, 200, 'the user homed in the deleted tenant stays');
      assert.equal(homed.body.home_tenant_id, null);
      const guest = await gh.request('GET', `/api/v1/users/${guestId}`, { token: admin });
      assert.equal(guest.status, 200);
      assert.equal(guest.body.home_tenant_id, b.tenantId);
      const stillInB = await gh.request('GET', `/api/v1/tenants/${b.tenantId}/members`, { token: admin });
      assert.ok(
        stillInB.body.members.some((m: { user_id: string }) => m.user_id === guestId),
        'other memberships stay',
      );

      // The deleted tenant's administrator can still sign in, but their token for it is dead.
      const withOldToken = await gh.request('GET', '/api/v1/tenants', { token: doomed.token });
      assert.equal(withOldToken.status, 401);
      assert.equal(withOldToken.body.error, 'invalid_token');
      const session = await gh.signIn(doomed.adminEmail, PASSWORD);
      const issued = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: doomed.tenantId } });
      assert.equal(issued.status, 403);
      assert.equal(issued.body.error, 'not_a_member');

      const events = await auditEvents('iam.tenant.deleted', doomed.tenantId);
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actor_id, adminId);
      assert.deepEqual(events[0]!.details, { slug: 'doomed' });
    });

    it('answers 404 for a tenant already deleted or unknown, and 400 invalid_id for a malformed id', async () => {
      const tenant = await createTenant('delete-twice');
      assert.equal((await gh.request('DELETE', `/api/v1/tenants/${tenant.id}`, { token: admin })).status, 204);
      const again = await gh.request('DELETE', `/api/v1/tenants/${tenant.id}`, { token: admin });
      assert.equal(again.status, 404);
      assert.equal(again.body.error, 'not_found');
      assert.equal((await gh.request('DELETE', `/api/v1/tenants/${UNKNOWN_ID}`, { token: admin })).status, 404);
      const malformed = await gh.request('DELETE', '/api/v1/tenants/12', { token: admin });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.body.error, 'invalid_id');
      assert.equal((await auditEvents('iam.tenant.deleted', tenant.id)).length, 1, 'one event for one deletion');
    });

    it('refuses to delete the system tenant (403 system_resource)', async () => {
      const response = await gh.request('DELETE', `/api/v1/tenants/${systemTenantId}`, { token: admin });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'system_resource');
      assert.equal((await gh.request('GET', `/api/v1/tenants/${systemTenantId}`, { token: admin })).status, 200);
    });

    it('refuses a tenant administrator (403 forbidden), for the own tenant and another alike', async () => {
      for (const id of [a.tenantId, b.tenantId]) {
        const response = await gh.request('DELETE', `/api/v1/tenants/${id}`, { token: a.token });
        assert.equal(response.status, 403);
        assert.equal(response.body.error, 'forbidden');
        assert.equal((await gh.request('GET', `/api/v1/tenants/${id}`, { token: admin })).status, 200);
      }
    });
  });
});
