import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { type AuditEventBody, PASSWORD } from '../../helpers/gatehouse.js';
import { acme, admin, gh, globex, twoTenantsServer } from '../../helpers/two-tenants.js';
import { createRole, MISSING_ID, onlyEvent, USER_AGENT, walk } from './setup.js';

describe('audit trail (GET /api/v1/audit-events)', () => {
  let counter = 0;

  twoTenantsServer();

  describe('filters', () => {
    it('filters by action: every event has that action', async () => {
      await createRole(acme.token, { name: 'Filter Action' });
      const events = await walk(admin, 'action=iam.role.created');
      assert.ok(events.length > 0);
      for (const event of events) assert.equal(event.action, 'iam.role.created');
    });

    it('filters by actor: only the events that user caused', async () => {
      const role = await createRole(globex.token, { name: 'Filter Actor' });
      const events = await walk(admin, `actor=${globex.adminId}`);
      assert.ok(events.some((e) => e.target_id === role.id));
      for (const event of events) assert.equal(event.actor_id, globex.adminId);
    });

    it('filters by target: the history of one role, newest first', async () => {
      const role = await createRole(acme.token, { name: 'Filter Target' });
      await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { description: 'changed' } });
      await gh.request('DELETE', `/api/v1/roles/${role.id}`, { token: acme.token });
      const events = await walk(admin, `target=${role.id}`);
      assert.deepEqual(
        events.map((e) => e.action),
        ['iam.role.deleted', 'iam.role.modified', 'iam.role.created'],
      );
    });

    it('filters by tenant (system administrator): only that tenant’s events', async () => {
      const events = await walk(admin, `tenant=${globex.tenantId}`);
      assert.ok(events.some((e) => e.action === 'iam.tenant.created' && e.target_id === globex.tenantId));
      for (const event of events) assert.equal(event.tenant_id, globex.tenantId);
    });

    it('filters by from (inclusive) and to (exclusive) on created_at', async () => {
      const { token, userId } = await freshTenantAdmin();
      const roles: { id: string }[] = [];
      for (const name of ['Time One', 'Time Two', 'Time Three']) roles.push(await createRole(token, { name }));
      const all = await walk(admin, `actor=${userId}&action=iam.role.created`);
      assert.deepEqual(
        all.map((e) => e.target_id),
        roles.map((r) => r.id).reverse(),
      );
      const pivot = all[0]!.created_at; // the newest, "Time Three"

      const from = await walk(admin, `actor=${userId}&action=iam.role.created&from=${encodeURIComponent(pivot)}`);
      assert.deepEqual(
        from,
        all.filter((e) => e.created_at >= pivot),
      );
      assert.ok(
        from.some((e) => e.target_id === roles[2]!.id),
        'from includes the event at the bound',
      );

      const to = await walk(admin, `actor=${userId}&action=iam.role.created&to=${encodeURIComponent(pivot)}`);
      assert.deepEqual(
        to,
        all.filter((e) => e.created_at < pivot),
      );
      assert.ok(!to.some((e) => e.target_id === roles[2]!.id), 'to excludes the event at the bound');
      assert.ok(to.some((e) => e.target_id === roles[0]!.id));

      const empty = await walk(admin, `actor=${userId}&from=${encodeURIComponent(pivot)}&to=${encodeURIComponent(pivot)}`);
      assert.deepEqual(empty, []);
    });

    it('combines filters (tenant + action + actor)', async () => {
      const role = await createRole(acme.token, { name: 'Combined' });
      const events = await walk(admin, `tenant=${acme.tenantId}&action=iam.role.created&actor=${acme.adminId}`);
      assert.ok(events.some((e) => e.target_id === role.id));
      for (const e of events) {
        assert.equal(e.tenant_id, acme.tenantId);
        assert.equal(e.action, 'iam.role.created');
        assert.equal(e.actor_id, acme.adminId);
      }
    });

    it('rejects bad filters: unknown action, bad dates, bad tenant id, unknown field, bad cursor and limit', async () => {
      const cases: [string, string][] = [
        ['action=iam.role.exploded', 'invalid_field'],
        ['from=yesterday', 'invalid_field'],
        ['to=2024-13-45', 'invalid_field'],
        ['tenant=acme', 'invalid_id'],
        ['colour=red', 'unknown_field'],
        ['cursor=not-a-cursor', 'invalid_cursor'],
        ['limit=0', 'invalid_field'],
        ['limit=201', 'invalid_field'],
        ['limit=ten', 'invalid_type'],
      ];
      for (const [query, code] of cases) {
        const response = await gh.request('GET', `/api/v1/audit-events?${query}`, { token: admin });
        assert.equal(response.status, 400, query);
        assert.equal(response.body.error, code, query);
      }
    });
  });

  describe('order and cursor pagination', () => {
    it('lists newest first: ids descending, created_at never increasing, later writes before earlier ones', async () => {
      const first = await createRole(acme.token, { name: 'Order First' });
      const second = await createRole(acme.token, { name: 'Order Second' });
      const events = await walk(admin, '');
      for (let i = 1; i < events.length; i++) {
        assert.ok(events[i - 1]!.id > events[i]!.id, `ids descend at ${i}`);
        assert.ok(events[i - 1]!.created_at >= events[i]!.created_at, `created_at does not increase at ${i}`);
      }
      const position = (id: string) => events.findIndex((e) => e.target_id === id && e.action === 'iam.role.created');
      assert.ok(position(second.id) >= 0 && position(second.id) < position(first.id));
      const page = await gh.request('GET', '/api/v1/audit-events?limit=1', { token: admin });
      assert.deepEqual(page.body.events, events.slice(0, 1));
    });

    it('walks every page with a small limit: the same events, no duplicates, and null next_cursor at the end', async () => {
      const whole = await walk(admin, `tenant=${acme.tenantId}`);
      assert.ok(whole.length > 6, `enough events for several pages (${whole.length})`);
      const pages: AuditEventBody[][] = [];
      let cursor: string | null = null;
      do {
        const url = `/api/v1/audit-events?tenant=${acme.tenantId}&limit=3${cursor ? `&cursor=${cursor}` : ''}`;
        const response: { status: number; body: { events: AuditEventBody[]; next_cursor: string | null } } = await gh.request('GET', url, {
          token: admin,
        });
        assert.equal(response.status, 200);
        assert.ok(response.body.events.length <= 3);
        pages.push(response.body.events);
        cursor = response.body.next_cursor;
      } while (cursor);
      const walked = pages.flat();
      assert.equal(new Set(walked.map((e) => e.id)).size, walked.length, 'no duplicates');
      assert.deepEqual(walked, whole);
      assert.equal(pages.length, Math.ceil(whole.length / 3));
      assert.ok(pages.slice(0, -1).every((p) => p.length === 3));
    });

    it('defaults to 50 events per page', async () => {
      const existing = (await walk(admin, '')).length;
      for (let i = existing; i <= 50; i++) await createRole(globex.token, { name: `Default Page ${i}` });
      const total = (await walk(admin, '')).length;
      assert.ok(total > 50, `more than one default page (${total})`);
      const page = await gh.request('GET', '/api/v1/audit-events', { token: admin });
      assert.equal(page.body.events.length, 50);
      assert.equal(typeof page.body.next_cursor, 'string');
    });
  });

  describe('who sees what', () => {
    it('shows a system administrator the events of every tenant and of none', async () => {
      await createRole(acme.token, { name: 'Seen By System A' });
      await createRole(globex.token, { name: 'Seen By System B' });
      await gh.request('POST', '/api/v1/session', { body: { username: 'nobody@audit.test', password: 'whatever-it-is' } });
      const tenants = new Set((await walk(admin, '')).map((e) => e.tenant_id));
      assert.ok(tenants.has(acme.tenantId));
      assert.ok(tenants.has(globex.tenantId));
      assert.ok(tenants.has(null), 'events without a tenant (unknown user sign-in)');
    });

    it('shows a tenant administrator of A only A’s events: B’s never appear', async () => {
      const own = await createRole(acme.token, { name: 'Scope Own' });
      const foreign = await createRole(globex.token, { name: 'Scope Foreign' });
      const events = await walk(acme.token, '', 7);
      assert.ok(events.some((e) => e.target_id === own.id));
      assert.ok(!events.some((e) => e.target_id === foreign.id));
      for (const event of events) assert.equal(event.tenant_id, acme.tenantId);

      const byTarget = await walk(acme.token, `target=${foreign.id}`);
      assert.deepEqual(byTarget, []);
      const byActor = await walk(acme.token, `actor=${globex.adminId}`);
      assert.deepEqual(byActor, []);
      const explicit = await walk(acme.token, `tenant=${acme.tenantId}`);
      assert.deepEqual(
        explicit.map((e) => e.id),
        events.map((e) => e.id),
      );
    });

    it('answers 403 forbidden when a tenant administrator asks for another tenant (?tenant=B)', async () => {
      const response = await gh.request('GET', `/api/v1/audit-events?tenant=${globex.tenantId}`, { token: acme.token });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'forbidden');
      const unknown = await gh.request('GET', `/api/v1/audit-events?tenant=${MISSING_ID}`, { token: acme.token });
      assert.equal(unknown.status, 403);
    });

    it('lets a member whose custom role carries tenant.audit.read read the own tenant’s trail, and refuses a USER', async () => {
      const auditorRole = await createRole(acme.token, { name: 'Auditor', permissions: ['tenant.audit.read'] });
      const auditor = await memberToken(acme.token, acme.tenantId, [auditorRole.id]);
      const events = await walk(auditor, '');
      assert.ok(events.length > 0);
      for (const event of events) assert.equal(event.tenant_id, acme.tenantId);

      const plain = await memberToken(acme.token, acme.tenantId);
      const denied = await gh.request('GET', '/api/v1/audit-events', { token: plain });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.error, 'forbidden');
    });

    it('answers 401 without a token and 401 invalid_token for a session token', async () => {
      const none = await gh.request('GET', '/api/v1/audit-events');
      assert.equal(none.status, 401);
      assert.equal(none.body.error, 'unauthorized');
      const session = await gh.signIn(acme.adminEmail, PASSWORD);
      const withSession = await gh.request('GET', '/api/v1/audit-events', { token: session });
      assert.equal(withSession.status, 401);
      assert.equal(withSession.body.error, 'invalid_token');
    });
  });

  describe('what an event carries', () => {
    it('records actor id, IP, user agent, outcome, tenant and target of a write', async () => {
      const role = await createRole(acme.token, { name: 'Carried' }, { 'user-agent': USER_AGENT });
      const event = await onlyEvent('iam.role.created', role.id);
      assert.equal(event.actor_type, 'user');
      assert.equal(event.actor_id, acme.adminId);
      assert.equal(event.ip, '127.0.0.1');
      assert.equal(event.user_agent, USER_AGENT);
      assert.equal(event.outcome, 'success');
      assert.equal(event.tenant_id, acme.tenantId);
      assert.equal(event.target_type, 'role');
      assert.ok(Date.parse(event.created_at) > 0);
    });

    it('keeps every secret out of audit and outbox rows: passwords (right, wrong, changed), hashes, session and access tokens', async () => {
      const email = 'secretive@audit.test';
      const password = 'first-secret-Password-4711';
      const wrong = 'wrong-secret-Password-0815';
      const changed = 'changed-secret-Password-2342';
      const userId = await gh.createUser(admin, { email, password, tenant: acme.tenantId });
      const firstHash = (await gh.ctx.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow())
        .password_hash!;

      const session = await gh.signIn(email, password);
      const accessToken = await gh.tokenFor(session, acme.tenantId);
      const failed = await gh.request('POST', '/api/v1/session', { body: { username: email, password: wrong } });
      assert.equal(failed.status, 401);
      const patch = await gh.request('PATCH', `/api/v1/users/${userId}`, { token: acme.token, body: { password: changed } });
      assert.equal(patch.status, 200);
      const secondHash = (await gh.ctx.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow())
        .password_hash!;
      assert.notEqual(firstHash, secondHash);
      const secondSession = await gh.signIn(email, changed);

      const secrets = {
        password,
        wrong,
        changed,
        firstHash,
        secondHash,
        firstHashDigest: firstHash.split('$').at(-1)!,
        secondHashDigest: secondHash.split('$').at(-1)!,
        session,
        secondSession,
        accessToken,
        accessTokenSignature: accessToken.split('.')[2]!,
      };
      const rows = {
        audit_events: (await sql<{ row: string }>`select t::text as row from audit_events t`.execute(gh.ctx.db)).rows,
        event_outbox: (await sql<{ row: string }>`select t::text as row from event_outbox t`.execute(gh.ctx.db)).rows,
      };
      assert.ok(
        rows.audit_events.some((r) => r.row.includes(userId)),
        'the rows of this user are among those checked',
      );
      for (const [table, list] of Object.entries(rows)) {
        for (const { row } of list) {
          for (const [name, secret] of Object.entries(secrets)) assert.ok(!row.includes(secret), `${table} row holds ${name}: ${row}`);
        }
      }
      const api = JSON.stringify(await walk(admin, `target=${userId}`));
      for (const [name, secret] of Object.entries(secrets)) assert.ok(!api.includes(secret), `the API shows ${name}`);
    });
  });

  /** A new tenant with its own administrator, so a test can filter by an actor no other test uses. */
  async function freshTenantAdmin() {
    const created = await gh.tenantWithAdmin(`audit-${++counter}`);
    return { token: created.token, userId: created.adminId, tenantId: created.tenantId };
  }

  /** A user homed in the tenant (USER role unless roles are given), signed in, with an access token. */
  async function memberToken(tenantAdminToken: string, tenantId: string, roles?: string[]) {
    const email = `member${++counter}@audit.test`;
    await gh.createUser(tenantAdminToken, { email, password: PASSWORD, ...(roles && { roles }) });
    return gh.tokenFor(await gh.signIn(email, PASSWORD), tenantId);
  }
});
