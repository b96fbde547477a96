import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { usernameFingerprint } from '../../../src/authn/sessions/sessions.js';
import { type AuditEventBody, PASSWORD } from '../../helpers/gatehouse.js';
import { acme, admin, adminId, gh, globex, twoTenantsServer } from '../../helpers/two-tenants.js';
import { createRole, eventsFor, MISSING_ID, onlyEvent, USER_AGENT, walk } from './setup.js';

describe('audit trail (GET /api/v1/audit-events)', () => {
  let counter = 0;

  const outboxRow = (id: string) => gh.ctx.db.selectFrom('event_outbox').selectAll().where('id', '=', id).executeTakeFirst();

  /** The outbox row carries the audit event: same id, the event name, the same record. */
  const assertOutboxMatches = async (event: AuditEventBody) => {
    const row = await outboxRow(event.id);
    assert.ok(row, `outbox row for ${event.action}`);
    assert.equal(row.event, event.action);
    assert.equal(row.published_at, null);
    const payload = row.payload as Record<string, unknown>;
    assert.equal(payload.id, event.id);
    assert.equal(payload.action, event.action);
    assert.equal(payload.tenant_id, event.tenant_id);
    assert.equal(payload.actor_id, event.actor_id);
    assert.equal(payload.target_id, event.target_id);
    assert.equal(payload.outcome, event.outcome);
    assert.deepEqual(payload.details, event.details);
  };

  const counts = async () => {
    const [audit, outbox] = await Promise.all([gh.rowCount('audit_events'), gh.rowCount('event_outbox')]);
    return { audit, outbox };
  };

  const jwtPayload = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));

  twoTenantsServer();

  describe('every write records its event (with its outbox row)', () => {
    it('iam.role.created, iam.role.modified and iam.role.deleted', async () => {
      const role = await createRole(acme.token, { name: 'Lifecycle', permissions: ['tenant.account.read'] });
      const created = await onlyEvent('iam.role.created', role.id);
      assert.equal(created.tenant_id, acme.tenantId);
      assert.deepEqual(created.details, { name: 'Lifecycle', permissions: ['tenant.account.read'] });
      await assertOutboxMatches(created);

      await gh.request('PATCH', `/api/v1/roles/${role.id}`, { token: acme.token, body: { name: 'Lifecycle 2', permissions: [] } });
      const modified = await onlyEvent('iam.role.modified', role.id);
      assert.equal(modified.actor_id, acme.adminId);
      assert.equal(modified.tenant_id, acme.tenantId);
      assert.deepEqual(modified.details, { fields: ['name', 'permissions'], permissions: [] });
      await assertOutboxMatches(modified);

      assert.equal((await gh.request('DELETE', `/api/v1/roles/${role.id}`, { token: acme.token })).status, 204);
      const deleted = await onlyEvent('iam.role.deleted', role.id);
      assert.equal(deleted.tenant_id, acme.tenantId);
      assert.deepEqual(deleted.details, { name: 'Lifecycle 2' });
      await assertOutboxMatches(deleted);
    });

    it('records a global role’s events without a tenant, with the system administrator as actor', async () => {
      const role = await createRole(admin, { name: 'Global Audited' });
      const event = await onlyEvent('iam.role.created', role.id);
      assert.equal(event.tenant_id, null);
      assert.equal(event.actor_id, adminId);
      await assertOutboxMatches(event);
    });

    it('iam.permission.created, iam.permission.modified and iam.permission.deleted', async () => {
      const created = await gh.request('POST', '/api/v1/permission', { token: acme.token, body: { key: 'audited.key' } });
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      const createdEvent = await onlyEvent('iam.permission.created', id);
      assert.equal(createdEvent.tenant_id, acme.tenantId);
      assert.equal(createdEvent.actor_id, acme.adminId);
      assert.equal(createdEvent.target_type, 'permission');
      assert.deepEqual(createdEvent.details, { key: 'audited.key' });
      await assertOutboxMatches(createdEvent);

      assert.equal((await gh.request('PATCH', `/api/v1/permission/${id}`, { token: acme.token, body: { description: 'd' } })).status, 200);
      const modified = await onlyEvent('iam.permission.modified', id);
      assert.deepEqual(modified.details, { key: 'audited.key', fields: ['description'] });
      await assertOutboxMatches(modified);

      assert.equal((await gh.request('DELETE', `/api/v1/permission/${id}`, { token: acme.token })).status, 204);
      const deleted = await onlyEvent('iam.permission.deleted', id);
      assert.equal(deleted.tenant_id, acme.tenantId);
      assert.deepEqual(deleted.details, { key: 'audited.key' });
      await assertOutboxMatches(deleted);
    });

    it('iam.token.created for POST /api/v1/token, naming the token’s jti and session', async () => {
      const email = `token${++counter}@audit.test`;
      const userId = await gh.createUser(acme.token, { email, password: PASSWORD });
      const signIn = await gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD } });
      const issued = await gh.request('POST', '/api/v1/token', {
        token: signIn.body.token,
        body: { organization: 'acme' },
        headers: { 'user-agent': USER_AGENT },
      });
      assert.equal(issued.status, 200);
      const claims = jwtPayload(issued.body.token);
      const event = await onlyEvent('iam.token.created', userId);
      assert.equal(event.tenant_id, acme.tenantId);
      assert.equal(event.actor_id, userId);
      assert.equal(event.target_type, 'user');
      assert.equal(event.user_agent, USER_AGENT);
      assert.equal(event.outcome, 'success');
      assert.deepEqual(event.details, { jti: claims.jti, client_id: 'gatehouse', session_id: signIn.body.id });
      await assertOutboxMatches(event);
    });

    it('records no iam.token.created when the token is refused (403 not_a_member)', async () => {
      const email = `refused${++counter}@audit.test`;
      const userId = await gh.createUser(acme.token, { email, password: PASSWORD });
      const session = await gh.signIn(email, PASSWORD);
      const refused = await gh.request('POST', '/api/v1/token', { token: session, body: { organization: 'globex' } });
      assert.equal(refused.status, 403);
      assert.deepEqual(await eventsFor('iam.token.created', userId), []);
    });

    it('iam.user.loginSucceeded with the session id, in the user’s home tenant', async () => {
      const email = `login${++counter}@audit.test`;
      const userId = await gh.createUser(globex.token, { email, password: PASSWORD });
      const signIn = await gh.request('POST', '/api/v1/session', {
        body: { username: email, password: PASSWORD },
        headers: { 'user-agent': USER_AGENT },
      });
      assert.equal(signIn.status, 200);
      const event = await onlyEvent('iam.user.loginSucceeded', userId);
      assert.equal(event.tenant_id, globex.tenantId);
      assert.equal(event.actor_type, 'user');
      assert.equal(event.actor_id, userId);
      assert.equal(event.user_agent, USER_AGENT);
      assert.equal(event.ip, '127.0.0.1');
      assert.equal(event.outcome, 'success');
      assert.deepEqual(event.details, { session_id: signIn.body.id, remember_me: false });
      await assertOutboxMatches(event);
    });

    it('iam.user.loginFailed with outcome failure for a wrong password (target = the user) and an unknown user (anonymous)', async () => {
      const email = `failing${++counter}@audit.test`;
      const userId = await gh.createUser(globex.token, { email, password: PASSWORD });
      const wrong = await gh.request('POST', '/api/v1/session', {
        body: { username: email, password: 'not-the-password' },
        headers: { 'user-agent': USER_AGENT },
      });
      assert.equal(wrong.status, 401);
      const event = await onlyEvent('iam.user.loginFailed', userId);
      assert.equal(event.outcome, 'failure');
      assert.equal(event.tenant_id, globex.tenantId);
      assert.equal(event.user_agent, USER_AGENT);
      assert.equal(event.details.reason, 'wrong_password');
      await assertOutboxMatches(event);

      const ghost = `ghost${++counter}@audit.test`;
      const unknown = await gh.request('POST', '/api/v1/session', { body: { username: ghost, password: 'not-the-password' } });
      assert.equal(unknown.status, 401);
      const failures = await walk(admin, 'action=iam.user.loginFailed');
      const anonymous = failures.find((e) => e.details.username_fingerprint === usernameFingerprint(gh.ctx, ghost));
      assert.ok(anonymous, 'an event for the unknown user');
      assert.ok(!JSON.stringify(anonymous).includes(ghost), 'the name as typed is not stored (it may be a password)');
      assert.equal(anonymous.actor_type, 'anonymous');
      assert.equal(anonymous.actor_id, null);
      assert.equal(anonymous.target_id, null);
      assert.equal(anonymous.tenant_id, null);
      assert.equal(anonymous.outcome, 'failure');
      assert.equal(anonymous.details.reason, 'unknown_user');
      await assertOutboxMatches(anonymous);
    });

    it('iam.user.loginFailed for a disabled account after the right password', async () => {
      const email = `disabled${++counter}@audit.test`;
      const userId = await gh.createUser(acme.token, { email, password: PASSWORD, status: 'disabled' });
      const response = await gh.request('POST', '/api/v1/session', { body: { username: email, password: PASSWORD } });
      assert.equal(response.status, 403);
      assert.equal(response.body.error, 'account_disabled');
      const event = await onlyEvent('iam.user.loginFailed', userId);
      assert.equal(event.outcome, 'failure');
      assert.equal(event.details.reason, 'account_disabled');
      assert.deepEqual(await eventsFor('iam.user.loginSucceeded', userId), []);
    });

    it('gives every audit event exactly one outbox row with the same id and event name', async () => {
      const rows = await gh.ctx.db
        .selectFrom('audit_events as a')
        .leftJoin('event_outbox as o', 'o.id', 'a.id')
        .select(['a.id', 'a.action', 'o.event'])
        .execute();
      assert.ok(rows.length > 0);
      for (const row of rows) assert.equal(row.event, row.action, row.id);
      const { audit, outbox } = await counts();
      assert.equal(outbox, audit);
    });
  });

  describe('atomicity: a refused write leaves no event and no row', () => {
    it('409 role_name_taken: no audit event, no outbox row, no second role', async () => {
      await createRole(acme.token, { name: 'Unique Once' });
      const before = await counts();
      const roles = await gh.ctx.db.selectFrom('roles').select('id').where('name', 'ilike', 'unique once').execute();
      const duplicate = await gh.request('POST', '/api/v1/roles', { token: acme.token, body: { name: 'unique once' } });
      assert.equal(duplicate.status, 409);
      assert.equal(duplicate.body.error, 'role_name_taken');
      assert.deepEqual(await counts(), before);
      assert.deepEqual(await gh.ctx.db.selectFrom('roles').select('id').where('name', 'ilike', 'unique once').execute(), roles);
    });

    it('409 role_name_taken on rename: no iam.role.modified and the name is unchanged', async () => {
      await createRole(acme.token, { name: 'Rename Target' });
      const role = await createRole(acme.token, { name: 'Rename Source' });
      const before = await counts();
      const response = await gh.request('PATCH', `/api/v1/roles/${role.id}`, {
        token: acme.token,
        body: { name: 'Rename Target', description: 'x' },
      });
      assert.equal(response.status, 409);
      assert.deepEqual(await counts(), before);
      assert.deepEqual(await eventsFor('iam.role.modified', role.id), []);
      const stored = await gh.ctx.db
        .selectFrom('roles')
        .select(['name', 'description'])
        .where('id', '=', role.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(stored, { name: 'Rename Source', description: '' });
    });

    it('409 permission_taken, 400 reserved_permission, 403 restricted_permission, 403 system_resource: no events', async () => {
      await gh.request('POST', '/api/v1/permission', { token: acme.token, body: { key: 'atomic.key' } });
      const userRoleId = (await gh.systemRoleIds()).USER;
      const before = await counts();
      const attempts: [string, string, Record<string, unknown> | undefined, string][] = [
        ['POST', '/api/v1/permission', { key: 'atomic.key' }, 'permission_taken'],
        ['POST', '/api/v1/permission', { key: 'iam.atomic' }, 'reserved_permission'],
        ['POST', '/api/v1/roles', { name: 'Atomic', permissions: ['all'] }, 'restricted_permission'],
        ['POST', '/api/v1/roles', { name: 'Atomic', permissions: ['no.such.key'] }, 'unknown_permission'],
        ['PATCH', `/api/v1/roles/${userRoleId}`, { description: 'x' }, 'system_resource'],
        ['DELETE', `/api/v1/roles/${userRoleId}`, undefined, 'system_resource'],
      ];
      for (const [method, url, body, code] of attempts) {
        const response = await gh.request(method as 'POST', url, { token: acme.token, ...(body && { body }) });
        assert.equal(response.body.error, code, `${method} ${url}`);
      }
      assert.deepEqual(await counts(), before);
    });

    it('a user creation that fails half-way (unknown role for the membership) leaves no user, no event, no row', async () => {
      const before = await counts();
      const email = 'half-way@audit.test';
      const response = await gh.request('POST', '/api/v1/users', {
        token: acme.token,
        body: { email, password: PASSWORD, roles: [MISSING_ID] },
      });
      assert.equal(response.status, 400);
      assert.equal(response.body.error, 'unknown_role');
      assert.deepEqual(await counts(), before);
      assert.equal(await gh.ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst(), undefined);
    });
  });
});
