import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { sealAll } from '../../../src/ops/audit/chain.js';
import { verifyAuditChains } from '../../../src/ops/audit/verify.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

interface ChainEntry {
  id: string;
  seq: number;
}

/**
 * Issue 6 part 4: every audit event is chained (HMAC) to the previous one of its tenant;
 * a changed, deleted, inserted or reordered row is detected and named by tenant, seq and
 * event id. The rows are tampered with straight in the database, as an intruder with
 * database access would, and put back after each case.
 */
describe('audit chain: tamper detection (GET /api/v1/audit-events/verify)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;

  const verify = async (token: string, query = '') => {
    const response = await gh.request('GET', `/api/v1/audit-events/verify${query}`, { token });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body;
  };

  /** The acme chain in order, after sealing what is committed. */
  const acmeChain = async (): Promise<ChainEntry[]> => {
    await sealAll(gh.ctx);
    const { rows } = await sql<{ id: string; seq: string | number }>`select id::text as id, chain_seq as seq from audit_events
      where tenant_id = ${acme.tenantId}::uuid order by chain_seq`.execute(gh.ctx.db);
    return rows.map((r) => ({ id: r.id, seq: Number(r.seq) }));
  };

  /** Runs `tamper`, checks what verify reports (as the system and as acme's administrator), then undoes it and checks the chain holds again. */
  const detects = async (tamper: () => Promise<() => Promise<void>>, expected: { kind: string; seq: number; event_id: string | null }) => {
    const undo = await tamper();
    try {
      for (const token of [admin, acme.token]) {
        const result = await verify(token);
        assert.equal(result.ok, false, JSON.stringify(result));
        assert.deepEqual(
          {
            tenant_id: result.first_break.tenant_id,
            kind: result.first_break.kind,
            seq: result.first_break.seq,
            event_id: result.first_break.event_id,
          },
          { tenant_id: acme.tenantId, ...expected },
          result.first_break.message,
        );
        assert.match(result.first_break.message, new RegExp(expected.kind === 'missing' ? 'missing' : expected.event_id!));
      }
      // Another tenant's administrator verifies only the own chain, which holds.
      assert.equal((await verify(globex.token)).ok, true);
    } finally {
      await undo();
    }
    assert.equal((await verify(admin)).ok, true, 'the chain holds again once the row is put back');
  };

  /** Takes a whole row out (or changes it) and returns how to put it back exactly. */
  const saved = async (id: string) => {
    const { rows } = await sql<Record<string, unknown>>`select * from audit_events where id = ${id}::uuid`.execute(gh.ctx.db);
    return rows[0]!;
  };
  const restore = (row: Record<string, unknown>) => async () => {
    await sql`delete from audit_events where id = ${row.id}::uuid`.execute(gh.ctx.db);
    await sql`insert into audit_events (id, created_at, tenant_id, action, outcome, actor_type, actor_id, target_type, target_id, ip,
      user_agent, details, chain_seq, chain_prev, chain_hash) values (${row.id}::uuid, ${row.created_at}, ${row.tenant_id}::uuid,
      ${row.action}, ${row.outcome}, ${row.actor_type}, ${row.actor_id}, ${row.target_type}, ${row.target_id}, ${row.ip},
      ${row.user_agent}, ${JSON.stringify(row.details)}::jsonb, ${row.chain_seq}::bigint, ${row.chain_prev}::bytea, ${row.chain_hash}::bytea)`.execute(
      gh.ctx.db,
    );
  };

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    for (let i = 0; i < 6; i++) await gh.createUser(acme.token, { email: `user${i}@acme.test`, password: PASSWORD });
    await gh.createUser(globex.token, { email: 'one@globex.test', password: PASSWORD });
  });
  after(() => gh.stop());

  it('chains every event per tenant and verifies a clean trail', async () => {
    const result = await verify(admin);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.unsealed, 0);
    assert.ok(result.chains >= 3, 'the system tenant, acme and globex (and events without a tenant)');
    assert.equal(result.events, await gh.rowCount('audit_events'));
    const chain = await acmeChain();
    assert.deepEqual(
      chain.map((e) => e.seq),
      chain.map((_, i) => i + 1),
      'acme’s events are numbered 1..n without gaps',
    );
    const own = await verify(acme.token);
    assert.equal(own.ok, true);
    assert.equal(own.chains, 1);
    assert.equal(own.events, chain.length);
  });

  it('a tenant administrator cannot verify another tenant’s chain', async () => {
    const response = await gh.request('GET', `/api/v1/audit-events/verify?tenant=${globex.tenantId}`, { token: acme.token });
    assert.equal(response.status, 403);
    assert.equal(response.body.error, 'forbidden');
  });

  it('detects and names a changed row', async () => {
    const target = (await acmeChain())[2]!;
    await detects(
      async () => {
        const row = await saved(target.id);
        await sql`update audit_events set details = '{"email":"someone-else@acme.test"}' where id = ${target.id}::uuid`.execute(gh.ctx.db);
        return restore(row);
      },
      { kind: 'changed', seq: target.seq, event_id: target.id },
    );
  });

  it('detects a change of any field, including the time to the microsecond', async () => {
    const target = (await acmeChain())[1]!;
    await detects(
      async () => {
        const row = await saved(target.id);
        await sql`update audit_events set created_at = created_at + interval '1 microsecond' where id = ${target.id}::uuid`.execute(
          gh.ctx.db,
        );
        return restore(row);
      },
      { kind: 'changed', seq: target.seq, event_id: target.id },
    );
  });

  it('detects and names a deleted row', async () => {
    const chain = await acmeChain();
    const target = chain[3]!;
    await detects(
      async () => {
        const row = await saved(target.id);
        await sql`delete from audit_events where id = ${target.id}::uuid`.execute(gh.ctx.db);
        return restore(row);
      },
      { kind: 'missing', seq: target.seq, event_id: chain[4]!.id },
    );
  });

  it('detects a deleted row even when the later ones are renumbered to close the gap', async () => {
    const chain = await acmeChain();
    const target = chain[3]!;
    await detects(
      async () => {
        const row = await saved(target.id);
        await sql`delete from audit_events where id = ${target.id}::uuid`.execute(gh.ctx.db);
        await sql`update audit_events set chain_seq = chain_seq - 1 where tenant_id = ${acme.tenantId}::uuid and chain_seq > ${target.seq}`.execute(
          gh.ctx.db,
        );
        return async () => {
          await sql`update audit_events set chain_seq = chain_seq + 1 where tenant_id = ${acme.tenantId}::uuid and chain_seq >= ${target.seq}`.execute(
            gh.ctx.db,
          );
          await restore(row)();
        };
      },
      { kind: 'missing', seq: target.seq, event_id: chain[4]!.id },
    );
  });

  it('detects a deleted last row (the head no longer matches)', async () => {
    const chain = await acmeChain();
    const last = chain.at(-1)!;
    await detects(
      async () => {
        const row = await saved(last.id);
        await sql`delete from audit_events where id = ${last.id}::uuid`.execute(gh.ctx.db);
        return restore(row);
      },
      { kind: 'missing', seq: last.seq, event_id: null },
    );
  });

  it('detects and names an inserted row (a forged event given a place in the chain)', async () => {
    const chain = await acmeChain();
    const forged = '00000000-0000-7000-8000-00000000f00d';
    const at = chain[2]!;
    await detects(
      async () => {
        // The intruder copies the neighbour's link and makes up a hash: it cannot compute the HMAC.
        await sql`insert into audit_events (id, created_at, tenant_id, action, outcome, actor_type, actor_id, details, chain_seq, chain_prev, chain_hash)
          select ${forged}::uuid, created_at, tenant_id, 'iam.user.deleted', 'success', 'user', ${acme.adminId}, '{}', chain_seq, chain_prev,
          decode(repeat('ab', 32), 'hex') from audit_events where id = ${at.id}::uuid`.execute(gh.ctx.db);
        return async () => {
          await sql`delete from audit_events where id = ${forged}::uuid`.execute(gh.ctx.db);
        };
      },
      // The forged id sorts before the genuine event of that seq, so it is met first.
      { kind: 'inserted', seq: at.seq, event_id: forged },
    );
  });

  it('detects an inserted row when the later ones are renumbered to make room', async () => {
    const chain = await acmeChain();
    const forged = '01900000-0000-7000-8000-00000000beef';
    const at = chain[2]!;
    await detects(
      async () => {
        await sql`update audit_events set chain_seq = chain_seq + 1 where tenant_id = ${acme.tenantId}::uuid and chain_seq >= ${at.seq}`.execute(
          gh.ctx.db,
        );
        await sql`insert into audit_events (id, created_at, tenant_id, action, outcome, actor_type, actor_id, details, chain_seq, chain_prev, chain_hash)
          values (${forged}::uuid, now(), ${acme.tenantId}::uuid, 'iam.user.created', 'success', 'user', ${acme.adminId}, '{}', ${at.seq},
          decode(repeat('cd', 32), 'hex'), decode(repeat('ef', 32), 'hex'))`.execute(gh.ctx.db);
        return async () => {
          await sql`delete from audit_events where id = ${forged}::uuid`.execute(gh.ctx.db);
          await sql`update audit_events set chain_seq = chain_seq - 1 where tenant_id = ${acme.tenantId}::uuid and chain_seq > ${at.seq}`.execute(
            gh.ctx.db,
          );
        };
      },
      { kind: 'inserted', seq: at.seq, event_id: forged },
    );
  });

  it('detects and names a reordered row', async () => {
    const chain = await acmeChain();
    const [a, b] = [chain[2]!, chain[3]!];
    const place = (aSeq: number, bSeq: number) => async () => {
      await sql`update audit_events set chain_seq = case id when ${a.id}::uuid then ${aSeq}::bigint else ${bSeq}::bigint end
        where id in (${a.id}::uuid, ${b.id}::uuid)`.execute(gh.ctx.db);
    };
    await detects(
      async () => {
        await place(b.seq, a.seq)();
        return place(a.seq, b.seq);
      },
      // Event b now holds a's place; a, which belongs there, comes after it.
      { kind: 'reordered', seq: a.seq, event_id: b.id },
    );
  });

  it('detects an event moved into another tenant’s chain', async () => {
    const chain = await acmeChain();
    const target = chain[4]!;
    const result = await (async () => {
      await sql`update audit_events set tenant_id = ${globex.tenantId}::uuid where id = ${target.id}::uuid`.execute(gh.ctx.db);
      try {
        return await verifyAuditChains(gh.ctx, acme.tenantId);
      } finally {
        await sql`update audit_events set tenant_id = ${acme.tenantId}::uuid where id = ${target.id}::uuid`.execute(gh.ctx.db);
      }
    })();
    assert.equal(result.ok, false);
    assert.equal(result.first_break?.kind, 'missing');
    assert.equal(result.first_break?.seq, target.seq);
    assert.equal((await verifyAuditChains(gh.ctx)).ok, true);
  });

  it('chains events written after a verify onto the same chain', async () => {
    const before = (await acmeChain()).length;
    await gh.createUser(acme.token, { email: 'late@acme.test', password: PASSWORD });
    const chain = await acmeChain();
    assert.ok(chain.length > before);
    assert.equal(chain.at(-1)!.seq, chain.length);
    assert.equal((await verify(admin)).ok, true);
  });

  it('refuses to re-chain altered events onto a head set back by hand (security review of issue 6)', async () => {
    const chain = await acmeChain();
    const k = chain[3]!;
    const previous = chain[2]!;
    const { rows } = await sql<{ hash: Uint8Array }>`select chain_hash as hash from audit_events where id = ${previous.id}::uuid`.execute(
      gh.ctx.db,
    );
    const head = await gh.ctx.db.selectFrom('audit_chains').selectAll().where('chain', '=', acme.tenantId).executeTakeFirstOrThrow();
    const originals = await Promise.all(chain.slice(3).map((entry) => saved(entry.id)));
    // The intruder changes event k, clears the chain fields from k on, and sets the head back to k-1.
    await sql`update audit_events set details = '{"forged": true}'::jsonb where id = ${k.id}::uuid`.execute(gh.ctx.db);
    await sql`update audit_events set chain_seq = null, chain_prev = null, chain_hash = null
      where tenant_id = ${acme.tenantId}::uuid and chain_seq >= ${k.seq}`.execute(gh.ctx.db);
    await gh.ctx.db
      .updateTable('audit_chains')
      .set({ last_seq: previous.seq, last_hash: Buffer.from(rows[0]!.hash) })
      .where('chain', '=', acme.tenantId)
      .execute();
    try {
      const result = await verifyAuditChains(gh.ctx, acme.tenantId);
      assert.equal(result.ok, false, 'the head no longer carries its MAC');
      assert.equal(result.first_break?.kind, 'changed');
      const { rows: resealed } = await sql<{ n: string | number }>`select count(*) as n from audit_events
        where tenant_id = ${acme.tenantId}::uuid and chain_seq is null`.execute(gh.ctx.db);
      assert.equal(Number(resealed[0]!.n), chain.length - 3, 'the sealer chained nothing onto the forged head');
    } finally {
      for (const row of originals) await restore(row)();
      await gh.ctx.db
        .updateTable('audit_chains')
        .set({ last_seq: head.last_seq as number, last_hash: head.last_hash ? Buffer.from(head.last_hash) : null })
        .where('chain', '=', acme.tenantId)
        .execute();
    }
    assert.equal((await verify(admin)).ok, true, 'the chain holds again once everything is put back');
  });
});
