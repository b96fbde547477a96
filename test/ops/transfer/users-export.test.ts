import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { decodeJwt } from 'jose';
import { Secret, TOTP } from 'otpauth';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { importBody, jsonl } from '../../helpers/transfer.js';

const PASSPHRASE = 'correct horse battery staple';
const BCRYPT_PASSWORD = 'an-old-bcrypt-password';
const TARGET_ADMIN = 'root@target.test';
const REPORTS_API = 'https://reports.globex.test';

async function exportFile(gh: TestGatehouse, token: string, passphrase?: string) {
  const response = await gh.app.inject({
    method: 'GET',
    url: '/api/v1/users/export',
    headers: { authorization: `Bearer ${token}`, ...(passphrase && { 'x-export-passphrase': passphrase }) },
  });
  return { status: response.statusCode, text: response.body, type: response.headers['content-type'] };
}

const totpOf = (seed: string) => new TOTP({ secret: Secret.fromBase32(seed), algorithm: 'SHA1', digits: 6, period: 30 });

/** Signs in (with the TOTP code when the account asks for one) and returns the claims of a token for the tenant. */
async function claimsIn(gh: TestGatehouse, email: string, password: string, organization: string, otp?: () => string) {
  const first = await gh.request('POST', '/api/v1/session', { body: { username: email, password } });
  let session: string;
  if (otp) {
    assert.equal(first.status, 401, `${email}: ${JSON.stringify(first.body)}`);
    assert.equal(first.body.error, 'mfa_required');
    const opened = await gh.request('POST', '/api/v1/session/mfa', { body: { mfa_token: first.body.mfa_token, otp: otp() } });
    assert.equal(opened.status, 200, `${email}: ${JSON.stringify(opened.body)}`);
    session = opened.body.token;
  } else {
    assert.equal(first.status, 200, `${email}: ${JSON.stringify(first.body)}`);
    session = first.body.token;
  }
  const token = await gh.request('POST', '/api/v1/token', { token: session, body: { organization } });
  assert.equal(token.status, 200, `${email} in ${organization}: ${JSON.stringify(token.body)}`);
  const claims = decodeJwt(token.body.token) as { roles: string[]; permissions: string[]; org_id: string };
  return { roles: [...claims.roles].sort(), permissions: [...claims.permissions].sort(), token: token.body.token as string };
}

/**
 * Export and import round trip through the real HTTP API, into a Gatehouse with nothing
 * in it but its own first administrator (another email): the export carries the tenants
 * (branding, policies), their permissions and custom roles; users with an argon2 password,
 * an imported bcrypt hash never upgraded, a TOTP factor, memberships and roles sign in
 * there with the same passwords and codes and get tokens with the same roles and permissions.
 */
describe('GET /api/v1/users/export and the round trip into an empty Gatehouse', { timeout: 180_000 }, () => {
  let source: TestGatehouse;
  let target: TestGatehouse;
  let acme: TenantAdmin;
  let globexId: string;
  let admin: string;
  let seed: string;
  let bcrypt: string;
  let file: string;
  let targetAdmin: string;

  before(async () => {
    [source, target] = await Promise.all([startGatehouse(), startGatehouse({ config: { adminEmail: TARGET_ADMIN } })]);
    admin = await source.adminToken();
    acme = await source.tenantWithAdmin('acme');
    const roles = await source.systemRoleIds();
    await source.createUser(admin, { email: 'alice@acme.test', password: PASSWORD, tenant: acme.tenantId, roles: [roles.TENANT_ADMIN!] });
    bcrypt = await bcryptHash(BCRYPT_PASSWORD, 4);
    const imported = await importBody(
      source,
      admin,
      jsonl({ email: 'bob@acme.test', password_hash: bcrypt, gatehouse: { tenants: [{ tenant: 'acme' }] } }),
    );
    assert.equal(imported.body.created, 1, JSON.stringify(imported.body));

    // Globex: branding, a stricter password policy, an own permission, an API, and a custom role using them.
    const globex = await source.created('/api/v1/tenants', admin, {
      slug: 'globex',
      name: 'Globex',
      branding: { display_name: 'Globex Corp', primary_color: '#123456' },
    });
    globexId = globex.id;
    const policies = await source.request('PATCH', `/api/v1/tenants/${globexId}/policies`, {
      token: admin,
      body: { password: { min_length: 12 } },
    });
    assert.equal(policies.status, 200, JSON.stringify(policies.body));
    await source.created('/api/v1/permissions', admin, { key: 'reports:read', description: 'Read reports', tenant: globexId });
    const api = await source.created('/api/v1/apis', admin, {
      identifier: REPORTS_API,
      name: 'Reports',
      tenant: globexId,
      permissions: [{ value: 'read:reports' }],
    });
    const auditor = await source.created('/api/v1/roles', admin, {
      name: 'AUDITOR',
      description: 'Reads the audit trail and reports',
      permissions: ['tenant.audit.read', 'reports:read'],
      tenant: globexId,
    });
    const linked = await source.request('POST', `/api/v1/roles/${auditor.id}/api-permissions`, {
      token: admin,
      body: { permissions: [{ api_id: api.id, value: 'read:reports' }] },
    });
    assert.equal(linked.status, 200, JSON.stringify(linked.body));
    await source.createUser(admin, { email: 'carol@globex.test', password: PASSWORD, tenant: globexId, roles: [roles.USER!, auditor.id] });
    // Dave holds AUDITOR through a group only (decision 368): the group and his place in it travel in the file.
    const dave = await source.createUser(admin, { email: 'dave@globex.test', password: PASSWORD, tenant: globexId });
    const group = await source.created(`/api/v1/tenants/${globexId}/groups`, admin, { name: 'Report readers', roles: [auditor.id] });
    const joined = await source.request('POST', `/api/v1/tenants/${globexId}/groups/${group.id}/members`, {
      token: admin,
      body: { users: [dave] },
    });
    assert.equal(joined.status, 204, JSON.stringify(joined.body));

    // Alice enrols TOTP as an authenticator app would.
    const session = await source.signIn('alice@acme.test', PASSWORD);
    const enrolment = await source.request('POST', '/api/v1/users/me/mfa/otp', { token: session, body: { name: 'Phone' } });
    seed = enrolment.body.secret;
    const confirmed = await source.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: session,
      body: { otp: totpOf(seed).generate() },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    targetAdmin = await target.tokenFor(await target.signIn(TARGET_ADMIN, ADMIN_PASSWORD), 'system');
  });
  after(async () => {
    await Promise.all([source.stop(), target.stop()]);
  });

  it('needs iam.account.export: a tenant administrator gets 403; a passphrase is required', async () => {
    assert.equal((await exportFile(source, acme.token, PASSPHRASE)).status, 403);
    const none = await exportFile(source, admin);
    assert.equal(none.status, 400);
    const weak = await exportFile(source, admin, 'short');
    assert.equal(JSON.parse(weak.text).error, 'weak_passphrase');
  });

  it('streams JSON lines: the definitions of tenants, permissions, roles and groups, then users with every secret encrypted; audited', async () => {
    const answer = await exportFile(source, admin, PASSPHRASE);
    assert.equal(answer.status, 200);
    assert.match(String(answer.type), /application\/x-ndjson/);
    file = answer.text;
    const lines = file
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines[0].format, 'gatehouse-users');
    // The definitions come first: the users after them need their tenants and roles.
    const kinds = lines.slice(1).map((l) => Object.keys(l)[0]);
    assert.deepEqual(kinds.slice(0, 5), [
      'gatehouse_tenant',
      'gatehouse_tenant',
      'gatehouse_permission',
      'gatehouse_role',
      'gatehouse_group',
    ]);
    assert.ok(kinds.slice(5).every((k) => !k!.startsWith('gatehouse_')));
    const tenants = lines.filter((l) => l.gatehouse_tenant).map((l) => l.gatehouse_tenant);
    assert.deepEqual(
      tenants.map((t) => t.slug),
      ['acme', 'globex'],
      'the system tenant is no definition: every Gatehouse has one',
    );
    const globex = tenants.find((t) => t.slug === 'globex');
    assert.deepEqual(globex.branding, { display_name: 'Globex Corp', primary_color: '#123456' });
    assert.deepEqual(globex.policies, { password: { min_length: 12 } });
    assert.deepEqual(
      lines.filter((l) => l.gatehouse_permission).map((l) => l.gatehouse_permission),
      [{ key: 'reports:read', description: 'Read reports', tenant: 'globex' }],
    );
    assert.deepEqual(
      lines.filter((l) => l.gatehouse_role).map((l) => l.gatehouse_role),
      [
        {
          name: 'AUDITOR',
          description: 'Reads the audit trail and reports',
          permissions: ['tenant.audit.read', 'reports:read'],
          tenant: 'globex',
          api_permissions: [{ api: REPORTS_API, value: 'read:reports' }],
        },
      ],
    );
    assert.deepEqual(
      lines.filter((l) => l.gatehouse_group).map((l) => l.gatehouse_group),
      [{ name: 'Report readers', description: '', tenant: 'globex', roles: ['AUDITOR'] }],
    );
    const dave = lines.find((l) => l.email === 'dave@globex.test');
    assert.deepEqual(dave.gatehouse.tenants, [{ tenant: 'globex', roles: ['USER'], groups: ['Report readers'] }]);
    const alice = lines.find((l) => l.email === 'alice@acme.test');
    assert.deepEqual(alice.gatehouse.tenants, [{ tenant: 'acme', roles: ['TENANT_ADMIN'] }]);
    assert.equal(alice.gatehouse.home_tenant, 'acme');
    assert.ok(alice.password_hash.enc);
    assert.ok(alice.mfa_factors[0].totp.secret.enc);
    const first = lines.find((l) => l.email === ADMIN_EMAIL);
    assert.deepEqual(first.gatehouse.tenants, [{ tenant: 'system', roles: ['ADMIN'] }]);
    // No plaintext secret: not the seed, not a hash.
    assert.ok(!file.includes(seed));
    assert.ok(!file.includes(bcrypt));
    assert.ok(!file.includes('$argon2'));
    const events = await source.auditEvents(admin, { action: 'iam.users.exported' });
    assert.equal(events.length, 1);
  });

  it('a wrong or missing passphrase on import: a clear error, nothing written', async () => {
    const users = await target.rowCount('users');
    const tenants = await target.rowCount('tenants');
    const wrong = await importBody(target, targetAdmin, file, { passphrase: 'not the right passphrase' });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'wrong_passphrase');
    const missing = await importBody(target, targetAdmin, file);
    assert.equal(missing.body.error, 'passphrase_required');
    assert.equal(await target.rowCount('users'), users);
    assert.equal(await target.rowCount('tenants'), tenants);
  });

  it('into an empty Gatehouse: tenants, permissions and roles are created, every user signs in with the same roles and permissions', async () => {
    assert.equal(await target.rowCount('tenants'), 1, 'the target has only its system tenant');
    const answer = await importBody(target, targetAdmin, file, { passphrase: PASSPHRASE });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.failed, 0, JSON.stringify(answer.body));
    assert.equal(answer.body.created, 6, 'alice, bob, carol, dave, acme’s administrator and the source’s first administrator');
    assert.deepEqual(answer.body.definitions, {
      created: { tenants: 2, permissions: 1, roles: 1, groups: 1 },
      existing: { tenants: 0, permissions: 0, roles: 0, groups: 0 },
    });
    // The API is not part of the export: the role's API permission is reported, not silently dropped.
    assert.deepEqual(
      answer.body.warnings.map((w: { warning: string; message: string }) => [w.warning, w.message.includes(REPORTS_API)]),
      [['unresolved_api_permission', true]],
    );
    const created = await target.auditEvents(targetAdmin, { action: 'iam.tenant.created' });
    assert.deepEqual(
      created
        .filter((e) => e.actor_type === 'user')
        .map((e) => e.details.slug)
        .sort(),
      ['acme', 'globex'],
    );
    assert.equal((await target.auditEvents(targetAdmin, { action: 'iam.role.created' })).length, 1);

    // The tenants came with their branding and policies.
    const tenants = (await target.request('GET', '/api/v1/tenants', { token: targetAdmin })).body.tenants as Array<Record<string, any>>;
    const globex = tenants.find((t) => t.slug === 'globex')!;
    assert.deepEqual(
      [globex.name, globex.status, globex.branding],
      ['Globex', 'active', { display_name: 'Globex Corp', primary_color: '#123456' }],
    );
    const policies = await target.request('GET', `/api/v1/tenants/${globex.id}/policies`, { token: targetAdmin });
    assert.equal(policies.body.password.min_length, 12);

    // Home tenants came along.
    const homes = await target.ctx.db
      .selectFrom('users as u')
      .innerJoin('tenants as t', 't.id', 'u.home_tenant_id')
      .select(['u.email', 't.slug'])
      .orderBy('u.email')
      .execute();
    assert.deepEqual(Object.fromEntries(homes.map((h) => [h.email, h.slug])), {
      'admin@acme.test': 'acme',
      [ADMIN_EMAIL]: 'system',
      'alice@acme.test': 'acme',
      'bob@acme.test': 'acme',
      'carol@globex.test': 'globex',
      'dave@globex.test': 'globex',
      [TARGET_ADMIN]: 'system',
    });

    // Bob's bcrypt hash arrives as it was (never upgraded on the source) and still verifies.
    const bobHash = await target.ctx.db
      .selectFrom('users')
      .select('password_hash')
      .where('email', '=', 'bob@acme.test')
      .executeTakeFirstOrThrow();
    assert.match(bobHash.password_hash!, /^\$2b\$/);

    // Each user: password (+ TOTP code), a token for the tenant, the same roles and permissions as on the source.
    // Alice's code on the source is the next step's: the current one may have confirmed her enrolment (no replay).
    const now = () => totpOf(seed).generate();
    const next = () => totpOf(seed).generate({ timestamp: Date.now() + 30_000 });
    const people: [string, string, string, boolean?][] = [
      ['alice@acme.test', PASSWORD, 'acme', true],
      ['bob@acme.test', BCRYPT_PASSWORD, 'acme'],
      ['carol@globex.test', PASSWORD, 'globex'],
      ['dave@globex.test', PASSWORD, 'globex'],
      ['admin@acme.test', PASSWORD, 'acme'],
      [ADMIN_EMAIL, ADMIN_PASSWORD, 'system'],
    ];
    for (const [email, password, tenant, totp] of people) {
      const there = await claimsIn(target, email, password, tenant, totp ? now : undefined);
      const here = await claimsIn(source, email, password, tenant, totp ? next : undefined);
      assert.deepEqual([there.roles, there.permissions], [here.roles, here.permissions], email);
    }
    assert.match(
      (await target.ctx.db.selectFrom('users').select('password_hash').where('email', '=', 'bob@acme.test').executeTakeFirstOrThrow())
        .password_hash!,
      /^\$argon2id\$/,
      'upgraded at the first sign-in on the target',
    );
    const carol = await claimsIn(target, 'carol@globex.test', PASSWORD, 'globex');
    assert.deepEqual(carol.roles, ['AUDITOR', 'USER']);
    assert.ok(carol.permissions.includes('reports:read'));
    assert.deepEqual((await claimsIn(target, 'dave@globex.test', PASSWORD, 'globex')).roles, ['AUDITOR', 'USER'], 'through the group');

    // The source's first administrator is a system administrator here too (a system
    // administrator's import, decision 145); the target's own first administrator still is.
    const imported = await claimsIn(target, ADMIN_EMAIL, ADMIN_PASSWORD, 'system');
    assert.deepEqual(imported.roles, ['ADMIN']);
    assert.deepEqual((await claimsIn(target, TARGET_ADMIN, ADMIN_PASSWORD, 'system')).roles, ['ADMIN']);
  });

  it('imported again: the definitions exist and are left as they are, users are updated, nothing is created', async () => {
    const answer = await importBody(target, targetAdmin, file, { passphrase: PASSPHRASE });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual([answer.body.created, answer.body.failed], [0, 0], JSON.stringify(answer.body));
    assert.deepEqual(answer.body.definitions, {
      created: { tenants: 0, permissions: 0, roles: 0, groups: 0 },
      existing: { tenants: 2, permissions: 1, roles: 1, groups: 1 },
    });
    assert.equal(await target.rowCount('tenants'), 3);
  });
});

/**
 * Least privilege in the export (decision 170) and the binding of each secret to its user
 * (the additional data names the email address): an operator holding only
 * iam.account.export gets the users it outranks and is told how many were left out; a
 * secret moved onto another user's line fails that line.
 */
describe('GET /api/v1/users/export: only users the caller outranks; secrets bound to their user', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let admin: string;
  let operator: string;
  const OPERATOR = 'exporter@gatehouse.test';

  const lines = (text: string) =>
    text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  const hashOf = async (email: string) =>
    (await gh.ctx.db.selectFrom('users').select('password_hash').where('email', '=', email).executeTakeFirstOrThrow()).password_hash;

  before(async () => {
    gh = await startGatehouse();
    const system = await gh.systemAdmin();
    admin = system.token;
    await gh.tenantWithAdmin('acme');
    const exporter = await gh.created('/api/v1/roles', admin, {
      name: 'EXPORTER',
      description: 'Exports users, nothing else',
      permissions: ['iam.account.export'],
    });
    await gh.createUser(admin, { email: OPERATOR, password: PASSWORD, tenant: system.systemTenantId, roles: [exporter.id] });
    await gh.createUser(admin, { email: 'plain@acme.test', password: PASSWORD, tenant: (await gh.tenantWithAdmin('beta')).tenantId });
    operator = await gh.tokenFor(await gh.signIn(OPERATOR, PASSWORD), 'system');
  });
  after(() => gh.stop());

  it('an operator holding only iam.account.export: no system administrator in the file, the header says how many were left out', async () => {
    const answer = await exportFile(gh, operator, PASSPHRASE);
    assert.equal(answer.status, 200, answer.text);
    const [header, ...rest] = lines(answer.text);
    const emails = rest.filter((l) => l.email).map((l) => l.email as string);
    assert.ok(!emails.includes(ADMIN_EMAIL), 'the ADMIN (holds all) is left out');
    assert.equal(header.omitted_users, 1);
    assert.deepEqual([...emails].sort(), ['admin@acme.test', 'admin@beta.test', OPERATOR, 'plain@acme.test'].sort());
    const events = await gh.auditEvents(admin, { action: 'iam.users.exported' });
    assert.equal(events.at(-1)?.details.omitted_users, 1);
  });

  it('an ADMIN exports everyone: nothing left out', async () => {
    const answer = await exportFile(gh, admin, PASSPHRASE);
    assert.equal(answer.status, 200, answer.text);
    const [header, ...rest] = lines(answer.text);
    assert.equal(header.omitted_users, 0);
    assert.ok(rest.some((l) => l.email === ADMIN_EMAIL));
    assert.ok(rest.some((l) => l.email === OPERATOR));
  });

  it('a password hash moved onto another user’s line fails that line (encrypted_value); nothing of it is written', async () => {
    const answer = await exportFile(gh, admin, PASSPHRASE);
    const parsed = lines(answer.text);
    const mine = parsed.find((l) => l.email === OPERATOR);
    const target = parsed.find((l) => l.email === ADMIN_EMAIL);
    target.password_hash = mine.password_hash;
    target.given_name = 'Changed';
    const before = await hashOf(ADMIN_EMAIL);
    const imported = await importBody(gh, admin, jsonl(...parsed), { passphrase: PASSPHRASE });
    assert.equal(imported.status, 200, JSON.stringify(imported.body));
    assert.equal(imported.body.failed, 1, JSON.stringify(imported.body));
    assert.deepEqual(
      imported.body.errors.map((e: { error: string; line: number }) => [e.error, e.line]),
      [['encrypted_value', parsed.indexOf(target) + 1]],
    );
    assert.equal(imported.body.updated, parsed.filter((l) => l.email).length - 1, 'the other lines import');
    assert.equal(await hashOf(ADMIN_EMAIL), before);
    const row = await gh.ctx.db.selectFrom('users').select('given_name').where('email', '=', ADMIN_EMAIL).executeTakeFirstOrThrow();
    assert.notEqual(row.given_name, 'Changed');
    // The same value on its own line (the address in another letter case) still decrypts.
    const own = parsed.find((l) => l.email === OPERATOR);
    own.email = OPERATOR.toUpperCase();
    const again = await importBody(gh, admin, jsonl(parsed[0], own), { passphrase: PASSPHRASE });
    assert.deepEqual([again.body.updated, again.body.failed], [1, 0], JSON.stringify(again.body));
  });

  it('an export of version 1 (secrets bound to the field only) is refused before anything is written', async () => {
    const parsed = lines((await exportFile(gh, admin, PASSPHRASE)).text);
    parsed[0].version = 1;
    const answer = await importBody(gh, admin, jsonl(...parsed), { passphrase: PASSPHRASE });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'invalid_import_file');
  });
});
