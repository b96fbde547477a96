import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createAuditBuffer } from '../../../src/platform/audit/buffer.js';
import { SYSTEM_ACTOR } from '../../../src/platform/audit/record.js';
import { AppError } from '../../../src/platform/errors.js';
import { PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { postToken } from '../../helpers/token-endpoint.js';

describe('the audit buffer for token events', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.stop());

  it('writes every event, in batches, with the id and time of when it happened, each with its outbox row', async () => {
    const buffer = createAuditBuffer(gh.ctx.db, gh.ctx, gh.ctx.log);
    const before = await gh.rowCount('audit_events');
    const outboxBefore = await gh.rowCount('event_outbox');
    for (let i = 0; i < 600; i++) {
      void buffer.add({ action: 'iam.token.created', actor: SYSTEM_ACTOR, details: { n: i } });
    }
    await buffer.flush();
    assert.equal((await gh.rowCount('audit_events')) - before, 600);
    assert.equal((await gh.rowCount('event_outbox')) - outboxBefore, 600);
    const rows = await gh.ctx.db
      .selectFrom('audit_events')
      .select(['id', 'details'])
      .where('action', '=', 'iam.token.created')
      .orderBy('id')
      .execute();
    const numbers = rows.map((r) => (r.details as { n?: number }).n).filter((n) => n !== undefined);
    assert.deepEqual(
      numbers,
      [...numbers].sort((a, b) => (a as number) - (b as number)),
      'ids follow the order the events happened in',
    );
  });

  it('settles each event when it is written: a lone event at once, with no delay to wait out', async () => {
    const buffer = createAuditBuffer(gh.ctx.db, gh.ctx, gh.ctx.log);
    const started = Date.now();
    await buffer.add({ action: 'iam.token.created', actor: SYSTEM_ACTOR, details: { lone: true } });
    const row = await gh.ctx.db
      .selectFrom('audit_events')
      .select('id')
      .where('action', '=', 'iam.token.created')
      .where(({ eb, ref }) => eb(ref('details', '->>').key('lone' as never), '=', 'true'))
      .executeTakeFirst();
    assert.ok(row, 'the event is in the table when its promise settles');
    assert.ok(Date.now() - started < 1000);
  });

  it('group commit: events that arrive while a write is in flight share the next write', async () => {
    let statements = 0;
    const counted = gh.ctx.db.withPlugin({
      transformQuery: (args) => {
        statements++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const buffer = createAuditBuffer(counted, gh.ctx, gh.ctx.log);
    const before = await gh.rowCount('audit_events');
    await Promise.all(
      Array.from({ length: 300 }, (_, n) => buffer.add({ action: 'iam.token.created', actor: SYSTEM_ACTOR, details: { n } })),
    );
    assert.equal((await gh.rowCount('audit_events')) - before, 300);
    // The first event goes alone (nothing was in flight); the others wait for it and share one write.
    assert.ok(statements <= 3, `300 events in ${statements} writes`);
  });

  it('a failed write rejects every event waiting on it with service_unavailable, and drops none in silence', async () => {
    const buffer = createAuditBuffer(gh.ctx.db, gh.ctx, gh.ctx.log);
    await sql`ALTER TABLE audit_events RENAME TO audit_events_away`.execute(gh.ctx.db);
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, n) => buffer.add({ action: 'iam.token.created', actor: SYSTEM_ACTOR, details: { failed: n } })),
      );
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        assert.ok(result.reason instanceof AppError);
        assert.equal(result.reason.code, 'service_unavailable');
        assert.equal(result.reason.status, 503);
      }
    } finally {
      await sql`ALTER TABLE audit_events_away RENAME TO audit_events`.execute(gh.ctx.db);
    }
    // The buffer keeps working once the database does.
    await buffer.add({ action: 'iam.token.created', actor: SYSTEM_ACTOR, details: { after_failure: true } });
  });

  it('records the tokens issued at the OAuth token endpoint', async () => {
    const admin = await gh.adminToken();
    const api = await gh.created('/api/v1/apis', admin, { identifier: 'https://audited.example', name: 'Audited', permissions: [] });
    const machine = await gh.created('/api/v1/applications', admin, { name: 'Worker', type: 'm2m' });
    await gh.created(`/api/v1/applications/${machine.id}/grants`, admin, { api_id: api.id, permissions: [] });
    const response = await postToken(gh, {
      grant_type: 'client_credentials',
      audience: 'https://audited.example',
      client_id: machine.client_id,
      client_secret: machine.client_secret,
    });
    assert.equal(response.statusCode, 200);
    // No wait: the answer left after its event was written.
    const events = await gh.auditEvents(admin, { action: 'iam.token.created', actor: machine.client_id });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.actor_type, 'client');
    assert.deepEqual(
      { grant_type: events[0]!.details.grant_type, audience: events[0]!.details.audience, client_id: events[0]!.details.client_id },
      { grant_type: 'client_credentials', audience: 'https://audited.example', client_id: machine.client_id },
    );
  });

  it('a token whose event cannot be written is not handed out: 503 with Retry-After', async () => {
    const admin = await gh.adminToken();
    const api = await gh.created('/api/v1/apis', admin, { identifier: 'https://unaudited.example', name: 'Unaudited', permissions: [] });
    const machine = await gh.created('/api/v1/applications', admin, { name: 'Worker 2', type: 'm2m' });
    await gh.created(`/api/v1/applications/${machine.id}/grants`, admin, { api_id: api.id, permissions: [] });
    const form = {
      grant_type: 'client_credentials',
      audience: 'https://unaudited.example',
      client_id: machine.client_id,
      client_secret: machine.client_secret,
    };
    assert.equal((await postToken(gh, form)).statusCode, 200, 'the application gets tokens while the trail is written');
    await sql`ALTER TABLE audit_events RENAME TO audit_events_away`.execute(gh.ctx.db);
    let response: Awaited<ReturnType<typeof postToken>>;
    try {
      response = await postToken(gh, form);
    } finally {
      await sql`ALTER TABLE audit_events_away RENAME TO audit_events`.execute(gh.ctx.db);
    }
    assert.equal(response.statusCode, 503);
    assert.equal(response.headers['retry-after'], '1');
    const body = response.json();
    assert.equal(body.error, 'temporarily_unavailable');
    assert.equal(body.access_token, undefined);
    assert.doesNotMatch(response.body, /eyJ/, 'no token in the answer');
    assert.equal((await postToken(gh, form)).statusCode, 200, 'tokens again once the trail can be written');
    const events = await gh.auditEvents(admin, { action: 'iam.token.created', actor: machine.client_id });
    assert.equal(events.length, 2, 'one event for each token handed out');
  });

  it('the engine’s own grants wait too: a refresh rotation whose event cannot be written answers 503 without tokens', async () => {
    const tenant = await gh.tenantWithAdmin('rotating');
    const web = await gh.created('/api/v1/applications', tenant.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: ['https://portal.rotating.test/callback'],
      grant_types: ['password', 'refresh_token'],
    });
    await gh.createUser(tenant.token, { email: 'rotor@rotating.test', password: PASSWORD });
    const client = { client_id: web.client_id, client_secret: web.client_secret };
    const signedIn = await postToken(gh, {
      grant_type: 'password',
      username: 'rotor@rotating.test',
      password: PASSWORD,
      scope: 'openid offline_access',
      ...client,
    });
    assert.equal(signedIn.statusCode, 200, signedIn.body);
    const first = signedIn.json().refresh_token as string;
    const rotated = await postToken(gh, { grant_type: 'refresh_token', refresh_token: first, ...client });
    assert.equal(rotated.statusCode, 200, 'rotations answer while the trail is written');
    const second = rotated.json().refresh_token as string;

    await sql`ALTER TABLE audit_events RENAME TO audit_events_away`.execute(gh.ctx.db);
    let refused: Awaited<ReturnType<typeof postToken>>;
    try {
      refused = await postToken(gh, { grant_type: 'refresh_token', refresh_token: second, ...client });
    } finally {
      await sql`ALTER TABLE audit_events_away RENAME TO audit_events`.execute(gh.ctx.db);
    }
    assert.equal(refused.statusCode, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.json().error, 'temporarily_unavailable');
    assert.equal(refused.json().access_token, undefined);
    assert.equal(refused.json().refresh_token, undefined);
    assert.doesNotMatch(refused.body, /eyJ/, 'no token in the answer');
  });
});
