import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { sql } from 'kysely';
import { sealAll } from '../../../src/ops/audit/chain.js';
import { pruneAuditTrail } from '../../../src/ops/audit/prune.js';
import { verifyAuditChains } from '../../../src/ops/audit/verify.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

const DAY = 86_400_000;

/**
 * Retention (issue 6 part 4): events older than the tenant's `audit.retention_days` are
 * written to the archive directory, then deleted; the chain keeps an anchor, so it still
 * verifies, and a deletion outside retention is still detected. The clock is injected.
 */
describe('audit retention: archive, prune, anchor', () => {
  let gh: TestGatehouse;
  let now = Date.now();
  let archiveDir: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;
  let oldAcme: string[];

  const idsOf = async (tenantId: string): Promise<string[]> => {
    await sealAll(gh.ctx);
    const { rows } = await sql<{
      id: string;
    }>`select id::text as id from audit_events where tenant_id = ${tenantId}::uuid order by chain_seq`.execute(gh.ctx.db);
    return rows.map((r) => r.id);
  };

  const setRetention = async (tenantId: string, days: number) => {
    const admin = await gh.adminToken();
    const response = await gh.request('PATCH', `/api/v1/tenants/${tenantId}/policies`, {
      token: admin,
      body: { audit: { retention_days: days } },
    });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.equal(response.body.audit.retention_days, days);
  };

  before(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'gatehouse-archive-'));
    gh = await startGatehouse({ clock: { now: () => new Date(now) }, config: { auditArchiveDir: archiveDir } });
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    for (let i = 0; i < 3; i++) await gh.createUser(acme.token, { email: `old${i}@acme.test`, password: PASSWORD });
    await gh.createUser(globex.token, { email: 'old@globex.test', password: PASSWORD });
    oldAcme = await idsOf(acme.tenantId);
    now += 10 * DAY;
    const token = await gh.tokenFor(await gh.signIn(acme.adminEmail, PASSWORD), acme.tenantId);
    await gh.createUser(token, { email: 'new@acme.test', password: PASSWORD });
    await setRetention(acme.tenantId, 5);
  });
  after(async () => {
    await gh.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  });

  it('the default retention is 400 days', async () => {
    const response = await gh.request('GET', `/api/v1/tenants/${globex.tenantId}/policies`, { token: await gh.adminToken() });
    assert.equal(response.body.audit.retention_days, 400);
  });

  it('archives, then deletes, the events older than the tenant’s retention, and keeps the chain verifiable', async () => {
    const kept = (await idsOf(acme.tenantId)).filter((id) => !oldAcme.includes(id));
    const pruned = await pruneAuditTrail(gh.ctx);
    assert.deepEqual(
      pruned.map((p) => ({ tenant_id: p.tenant_id, events: p.events, through_seq: p.through_seq })),
      [{ tenant_id: acme.tenantId, events: oldAcme.length, through_seq: oldAcme.length }],
      'only acme’s events are older than its retention; other tenants keep 400 days',
    );
    const [file] = pruned[0]!.files;
    const date = new Date(now).toISOString().slice(0, 10);
    assert.equal(file, `${acme.tenantId}/${date}-1-${oldAcme.length}.jsonl.gz`);
    const lines = gunzipSync(readFileSync(join(archiveDir, file!)))
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((l) => l.id),
      oldAcme,
    );
    assert.deepEqual(
      lines.map((l) => l.chain_seq),
      oldAcme.map((_, i) => i + 1),
    );
    assert.ok(lines.every((l) => l.tenant_id === acme.tenantId && /^[0-9a-f]{64}$/.test(l.chain_hash) && typeof l.details === 'object'));
    assert.deepEqual(
      readdirSync(join(archiveDir, acme.tenantId)).filter((f) => f.endsWith('.partial')),
      [],
    );

    const remaining = await idsOf(acme.tenantId);
    assert.deepEqual(
      remaining.filter((id) => oldAcme.includes(id)),
      [],
    );
    for (const id of kept) assert.ok(remaining.includes(id), 'younger events stay');
    const prunedEvent = (await gh.auditEvents(await gh.adminToken(), { action: 'iam.audit.pruned', tenant: acme.tenantId }))[0];
    assert.ok(prunedEvent);
    assert.equal(prunedEvent.actor_type, 'system');
    assert.deepEqual(prunedEvent.details, {
      events: oldAcme.length,
      through_seq: oldAcme.length,
      before: new Date(now - 5 * DAY).toISOString(),
      archive: file,
    });

    const verified = await verifyAuditChains(gh.ctx);
    assert.equal(verified.ok, true, JSON.stringify(verified.first_break));
    const response = await gh.request('GET', '/api/v1/audit-events/verify', { token: await gh.adminToken() });
    assert.equal(response.body.ok, true);
  });

  it('a second run finds nothing more to delete', async () => {
    assert.deepEqual(await pruneAuditTrail(gh.ctx), []);
  });

  it('a deletion outside retention is still detected after pruning', async () => {
    await sealAll(gh.ctx);
    const { rows } = await sql<Record<string, unknown>>`select * from audit_events where tenant_id = ${acme.tenantId}::uuid
      order by chain_seq limit 1`.execute(gh.ctx.db);
    const first = rows[0]!;
    assert.equal(Number(first.chain_seq), oldAcme.length + 1);
    await sql`delete from audit_events where id = ${first.id}::uuid`.execute(gh.ctx.db);
    try {
      const result = await verifyAuditChains(gh.ctx, acme.tenantId);
      assert.equal(result.ok, false);
      assert.equal(result.first_break?.kind, 'missing');
      assert.equal(result.first_break?.seq, oldAcme.length + 1);
    } finally {
      await sql`insert into audit_events select * from json_populate_record(null::audit_events, ${JSON.stringify({
        ...first,
        chain_prev: `\\x${Buffer.from(first.chain_prev as Uint8Array).toString('hex')}`,
        chain_hash: `\\x${Buffer.from(first.chain_hash as Uint8Array).toString('hex')}`,
      })}::json)`.execute(gh.ctx.db);
    }
    assert.equal((await verifyAuditChains(gh.ctx)).ok, true);
  });

  it('a pruned event put back is detected as inserted', async () => {
    await sealAll(gh.ctx);
    const forged = '00000000-0000-7000-8000-0000000000aa';
    await sql`insert into audit_events (id, tenant_id, action, outcome, actor_type, details, chain_seq, chain_prev, chain_hash)
      values (${forged}::uuid, ${acme.tenantId}::uuid, 'iam.user.created', 'success', 'system', '{}', 1, decode(repeat('00', 32), 'hex'),
      decode(repeat('11', 32), 'hex'))`.execute(gh.ctx.db);
    try {
      const result = await verifyAuditChains(gh.ctx, acme.tenantId);
      assert.equal(result.first_break?.kind, 'inserted');
      assert.equal(result.first_break?.event_id, forged);
      assert.equal(result.first_break?.seq, 1);
    } finally {
      await sql`delete from audit_events where id = ${forged}::uuid`.execute(gh.ctx.db);
    }
  });

  it('leaves a chain that does not verify alone: nothing is deleted, nothing archived', async () => {
    const old = await idsOf(globex.tenantId);
    await sql`update audit_events set details = '{"tampered":true}' where id = ${old[1]}::uuid`.execute(gh.ctx.db);
    await setRetention(globex.tenantId, 5);
    const pruned = await pruneAuditTrail(gh.ctx);
    const globexResult = pruned.find((p) => p.tenant_id === globex.tenantId);
    assert.ok(globexResult?.refused?.includes(old[1]!), JSON.stringify(pruned));
    assert.equal(globexResult?.events, 0);
    assert.deepEqual((await idsOf(globex.tenantId)).slice(0, old.length), old, 'every event is still there');
    assert.equal(existsSync(join(archiveDir, globex.tenantId)), false);
    const result = await verifyAuditChains(gh.ctx, globex.tenantId);
    assert.equal(result.first_break?.kind, 'changed');
    assert.equal(result.first_break?.event_id, old[1]);
  });
});
