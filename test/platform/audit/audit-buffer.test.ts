import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAuditBuffer } from '../../../src/platform/audit/buffer.js';
import { SYSTEM_ACTOR } from '../../../src/platform/audit/record.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
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
      buffer.add({ action: 'iam.token.created', actor: SYSTEM_ACTOR, details: { n: i } });
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

  it('writes a lone event within its delay, without a flush', async () => {
    const buffer = createAuditBuffer(gh.ctx.db, gh.ctx, gh.ctx.log);
    buffer.add({ action: 'iam.token.created', actor: SYSTEM_ACTOR, details: { lone: true } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const row = await gh.ctx.db
      .selectFrom('audit_events')
      .select('id')
      .where('action', '=', 'iam.token.created')
      .where(({ eb, ref }) => eb(ref('details', '->>').key('lone' as never), '=', 'true'))
      .executeTakeFirst();
    assert.ok(row);
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
    await new Promise((resolve) => setTimeout(resolve, 200));
    const events = await gh.auditEvents(admin, { action: 'iam.token.created', actor: machine.client_id });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.actor_type, 'client');
    assert.deepEqual(
      { grant_type: events[0]!.details.grant_type, audience: events[0]!.details.audience, client_id: events[0]!.details.client_id },
      { grant_type: 'client_credentials', audience: 'https://audited.example', client_id: machine.client_id },
    );
  });
});
