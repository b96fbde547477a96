import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CSV_COLUMNS } from '../../../src/ops/audit/export.js';
import { auditRows, SYSTEM_ACTOR } from '../../../src/platform/audit/record.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

/** RFC 4180, as a spreadsheet reads it: quoted cells may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  assert.equal(cell, '', 'the last line ends with CRLF');
  return rows;
}

const EVIL_AGENT = '=HYPERLINK("http://evil.example","click"), "quoted"';

describe('audit export (GET /api/v1/audit-events/export)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let globex: TenantAdmin;

  const exported = async (token: string, query: string) => {
    const response = await gh.app.inject({
      method: 'GET',
      url: `/api/v1/audit-events/export?${query}`,
      headers: { authorization: `Bearer ${token}` },
    });
    return { status: response.statusCode, body: response.body, headers: response.headers };
  };
  const jsonLines = (body: string) =>
    body
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    globex = await gh.tenantWithAdmin('globex');
    await gh.created('/api/v1/users', acme.token, { email: 'csv@acme.test', password: PASSWORD }, { 'user-agent': EVIL_AGENT });
    // More events than one read of the export (1,000), so it pages through the table.
    const rows = Array.from({ length: 2100 }, (_, i) =>
      auditRows(gh.ctx, { action: 'iam.user.modified', actor: SYSTEM_ACTOR, tenantId: globex.tenantId, details: { n: i } }),
    );
    for (let i = 0; i < rows.length; i += 500) {
      await gh.ctx.db
        .insertInto('audit_events')
        .values(rows.slice(i, i + 500).map((r) => r.audit))
        .execute();
    }
  });
  after(() => gh.stop());

  it('streams every event as JSON lines, oldest first, each with its place in the chain', async () => {
    const response = await exported(admin, 'format=jsonl');
    assert.equal(response.status, 200);
    assert.match(String(response.headers['content-type']), /^application\/x-ndjson/);
    assert.match(String(response.headers['content-disposition']), /^attachment; filename="audit-events-\d{4}-\d{2}-\d{2}\.jsonl"$/);
    const events = jsonLines(response.body);
    assert.equal(events.length, await gh.rowCount('audit_events'), 'the export’s own event is recorded first, and included');
    const ids = events.map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort(), 'oldest first');
    assert.equal(new Set(ids).size, ids.length, 'no event twice across reads');
    assert.ok(
      events.every((e) => Number.isInteger(e.chain_seq) && /^[0-9a-f]{64}$/.test(e.chain_hash)),
      'sealed before the export',
    );
    assert.deepEqual(Object.keys(events[0]), [...CSV_COLUMNS]);
  });

  it('records the export in the audit trail', async () => {
    await exported(acme.token, 'format=csv&action=iam.user.created');
    const [event] = await gh.auditEvents(admin, { action: 'iam.audit.exported', tenant: acme.tenantId });
    assert.ok(event);
    assert.equal(event.actor_id, acme.adminId);
    assert.deepEqual(event.details, { format: 'csv', tenant: acme.tenantId, action: 'iam.user.created' });
  });

  it('filters by action and time', async () => {
    const created = jsonLines((await exported(admin, 'action=iam.user.created')).body);
    assert.ok(created.length >= 3);
    assert.ok(created.every((e) => e.action === 'iam.user.created'));
    const middle = created[1]!.created_at;
    const from = jsonLines((await exported(admin, `action=iam.user.created&from=${encodeURIComponent(middle)}`)).body);
    assert.ok(from.every((e) => e.created_at >= middle));
    const to = jsonLines((await exported(admin, `action=iam.user.created&to=${encodeURIComponent(middle)}`)).body);
    assert.ok(to.every((e) => e.created_at < middle));
    assert.equal(from.length + to.length, created.length);
  });

  it('a tenant administrator exports the own tenant’s events only', async () => {
    const events = jsonLines((await exported(acme.token, 'format=jsonl')).body);
    assert.ok(events.length > 0);
    assert.ok(events.every((e) => e.tenant_id === acme.tenantId));
    const other = await exported(acme.token, `tenant=${globex.tenantId}`);
    assert.equal(other.status, 403);
    assert.equal(JSON.parse(other.body).error, 'forbidden');
    const globexOnly = jsonLines((await exported(admin, `tenant=${globex.tenantId}`)).body);
    assert.ok(globexOnly.length > 2100);
    assert.ok(globexOnly.every((e) => e.tenant_id === globex.tenantId));
  });

  it('CSV: a header row, quoting, and no formula a spreadsheet would run', async () => {
    const response = await exported(acme.token, 'format=csv&action=iam.user.created');
    assert.equal(response.status, 200);
    assert.match(String(response.headers['content-type']), /^text\/csv/);
    const [header, ...rows] = parseCsv(response.body);
    assert.deepEqual(header, [...CSV_COLUMNS]);
    const agent = CSV_COLUMNS.indexOf('user_agent');
    const evil = rows.find((r) => r[agent]?.includes('HYPERLINK'));
    assert.ok(evil, 'the event with the crafted user agent');
    assert.equal(evil[agent], `'${EVIL_AGENT}`, 'the cell is text: prefixed with a quote, commas and quotes intact');
    assert.ok(response.body.includes('"\'=HYPERLINK(""http://evil.example"",""click""), ""quoted"""'));
    for (const row of rows) {
      assert.equal(row.length, CSV_COLUMNS.length);
      assert.deepEqual(JSON.parse(row[CSV_COLUMNS.indexOf('details')]!).constructor, Object);
    }
  });

  it('bad input is a 400 with a stable code, and no token is a 401', async () => {
    for (const query of ['format=xml', 'from=yesterday', 'action=iam.nothing', 'tenant=acme', 'limit=5']) {
      const response = await exported(admin, query);
      assert.equal(response.status, 400, query);
      assert.match(JSON.parse(response.body).error, /^invalid_|unknown_field/, query);
    }
    const anonymous = await gh.app.inject({ method: 'GET', url: '/api/v1/audit-events/export' });
    assert.equal(anonymous.statusCode, 401);
  });
});
