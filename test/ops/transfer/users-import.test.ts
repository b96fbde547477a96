import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';
import { FIREBASE, hashesOf, TOO_EXPENSIVE } from '../../helpers/legacy-hashes.js';
import { importBody, jsonl } from '../../helpers/transfer.js';

const WRONG = 'not-the-password';
const NONE = { tenants: 0, permissions: 0, roles: 0, groups: 0 };
const NO_DEFINITIONS = { created: NONE, existing: NONE };

describe('POST /api/v1/users/import', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let admin: string;
  let acme: TenantAdmin;
  let other: TenantAdmin;
  let hashes: Record<string, string>;

  const passwordRow = async (email: string) =>
    (await gh.ctx.db.selectFrom('users').select('password_hash').where('email', '=', email).executeTakeFirstOrThrow()).password_hash;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    acme = await gh.tenantWithAdmin('acme');
    other = await gh.tenantWithAdmin('other');
    hashes = await hashesOf(PASSWORD);
  });
  after(() => gh.stop());

  it('imports every hash format; each user signs in with the old password, and the hash becomes our argon2id', async () => {
    const records = [
      ...Object.entries(hashes).map(([name, hash]) => ({ email: `${name.toLowerCase()}@hash.test`, password_hash: hash })),
      {
        email: 'firebase@hash.test',
        custom_password_hash: {
          algorithm: 'firebase-scrypt',
          hash: { value: FIREBASE.hash, encoding: 'base64' },
          salt: { value: FIREBASE.salt, encoding: 'base64', position: 'prefix' },
          password: { encoding: 'utf8' },
          key: { value: FIREBASE.signerKey, encoding: 'base64' },
          salt_separator: FIREBASE.saltSeparator,
          rounds: FIREBASE.rounds,
          mem_cost: FIREBASE.memCost,
        },
      },
      { email: 'auth0-bcrypt@hash.test', custom_password_hash: { algorithm: 'bcrypt', hash: { value: hashes.bcrypt2b } } },
    ];
    const answer = await importBody(gh, admin, jsonl(...records), { query: 'tenant=acme' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, {
      created: records.length,
      updated: 0,
      failed: 0,
      errors: [],
      definitions: NO_DEFINITIONS,
      warnings: [],
    });
    for (const { email } of records) {
      const password = email.startsWith('firebase') ? FIREBASE.password : PASSWORD;
      const wrong = await gh.request('POST', '/api/v1/session', { body: { username: email, password: WRONG } });
      assert.equal(wrong.status, 401, email);
      assert.doesNotMatch((await passwordRow(email))!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, `${email} not upgraded by a wrong password`);
      const right = await gh.request('POST', '/api/v1/session', { body: { username: email, password } });
      assert.equal(right.status, 200, `${email}: ${JSON.stringify(right.body)}`);
      assert.match((await passwordRow(email))!, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, `${email} upgraded`);
      // The upgraded hash keeps working, on the hot path.
      assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: email, password } })).status, 200);
    }
  });

  it('the password grant path (authenticate) upgrades too: OIH token after sign-in works for the imported user in the tenant', async () => {
    const answer = await importBody(gh, acme.token, jsonl({ email: 'grant@acme.test', password_hash: hashes.pbkdf2Sha256 }));
    assert.equal(answer.body.created, 1, JSON.stringify(answer.body));
    const session = await gh.signIn('grant@acme.test', PASSWORD);
    assert.ok(await gh.tokenFor(session, acme.tenantId));
    assert.match((await passwordRow('grant@acme.test'))!, /^\$argon2id\$/);
  });

  it('is idempotent: importing the same file again updates, creates nothing and adds no factor twice', async () => {
    const file = jsonl({
      email: 'Idem@Acme.test',
      name: 'Idem',
      password_hash: hashes.bcrypt2b,
      mfa_factors: [{ totp: { secret: 'JBSWY3DPEHPK3PXPJBSWY3DP' } }],
      gatehouse: { tenants: [{ tenant: 'acme', roles: ['TENANT_ADMIN'] }] },
    });
    const first = await importBody(gh, admin, file);
    assert.deepEqual(first.body, { created: 1, updated: 0, failed: 0, errors: [], definitions: NO_DEFINITIONS, warnings: [] });
    const users = await gh.rowCount('users');
    const factors = await gh.rowCount('mfa_factors');
    const second = await importBody(gh, admin, file.replace('Idem@Acme.test', 'idem@acme.TEST'));
    assert.deepEqual(second.body, { created: 0, updated: 1, failed: 0, errors: [], definitions: NO_DEFINITIONS, warnings: [] });
    assert.equal(await gh.rowCount('users'), users);
    assert.equal(await gh.rowCount('mfa_factors'), factors);
    const member = (await gh.members(admin, acme.tenantId)).find((m) => m.email === 'Idem@acme.test'); // the domain in its normal form (decision 213)
    assert.deepEqual(
      member?.roles.map((r) => r.name),
      ['TENANT_ADMIN'],
    );
  });

  it('reports each bad record by line and code, and imports the others', async () => {
    const file = jsonl(
      { email: 'good1@lines.test' },
      'not json',
      { email: 'hash@lines.test', password_hash: 'md5$abcdef' },
      { name: 'No Email' },
      { email: 'not-an-email' },
      { email: 'good1@LINES.test' },
      { email: 'role@lines.test', gatehouse: { tenants: [{ tenant: 'acme', roles: ['NO_SUCH_ROLE'] }] } },
      { email: 'tenant@lines.test', gatehouse: { tenants: [{ tenant: 'nowhere' }] } },
      { email: 'factor@lines.test', mfa_factors: [{ totp: { secret: 'short' } }] },
      { email: 'custom@lines.test', custom_password_hash: { algorithm: 'md5', hash: { value: 'x' } } },
      { email: 'good2@lines.test', blocked: true },
    );
    const answer = await importBody(gh, admin, file);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.created, 2);
    assert.deepEqual(
      answer.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [
        [2, 'malformed_json'],
        [3, 'unknown_hash_format'],
        [4, 'missing_email'],
        [5, 'invalid_email'],
        [6, 'duplicate_email'],
        [7, 'unknown_role'],
        [8, 'unknown_tenant'],
        [9, 'invalid_factor'],
        [10, 'unknown_hash_format'],
      ],
    );
    assert.equal(answer.body.failed, 9);
    const blocked = await gh.ctx.db.selectFrom('users').select('status').where('email', '=', 'good2@lines.test').executeTakeFirstOrThrow();
    assert.equal(blocked.status, 'disabled');
  });

  it('a hash beyond the work bounds is refused per line as hash_too_expensive; the others import', async () => {
    const entries = Object.entries(TOO_EXPENSIVE);
    const file = jsonl(
      ...entries.map(([, hash], i) => ({ email: `costly${i}@bounds.test`, password_hash: hash })),
      {
        email: 'firebase@bounds.test',
        custom_password_hash: {
          algorithm: 'firebase-scrypt',
          hash: { value: FIREBASE.hash },
          salt: { value: FIREBASE.salt },
          key: { value: FIREBASE.signerKey },
          salt_separator: FIREBASE.saltSeparator,
          rounds: 64,
          mem_cost: 20,
        },
      },
      { email: 'fine@bounds.test', password_hash: hashes.bcrypt2b },
    );
    const answer = await importBody(gh, admin, file);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.created, 1);
    assert.deepEqual(
      answer.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [...entries, ['firebase', '']].map((_, i) => [i + 1, 'hash_too_expensive']),
    );
    const written = await gh.ctx.db.selectFrom('users').select('email').where('email', 'like', '%@bounds.test').execute();
    assert.deepEqual(
      written.map((u) => u.email),
      ['fine@bounds.test'],
    );
  });

  it('a tenant administrator imports into the own tenant only, and cannot overwrite users of other tenants or system administrators', async () => {
    await importBody(gh, other.token, jsonl({ email: 'homed@other.test', name: 'Other' }));
    // Lines 3 and 4 name accounts outside the tenant: answered as new addresses (created), their owners
    // invited instead, nothing of theirs written (decision 185).
    const invitationsBefore = await gh.ctx.db.selectFrom('flows').select('id').where('kind', '=', 'invitation').execute();
    const answer = await importBody(
      gh,
      acme.token,
      jsonl(
        { email: 'mine@acme.test', password_hash: hashes.bcrypt2b },
        { email: 'elsewhere@acme.test', gatehouse: { tenants: [{ tenant: 'other' }] } },
        { email: 'homed@other.test', name: 'Taken over' },
        { email: 'admin@gatehouse.test', password_hash: hashes.bcrypt2b },
        { email: 'boss@acme.test', gatehouse: { tenants: [{ tenant: 'acme', roles: ['ADMIN'] }] } },
      ),
    );
    assert.equal(answer.status, 200);
    assert.equal(answer.body.created, 3);
    assert.deepEqual(
      answer.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [
        [2, 'tenant_not_allowed'],
        [5, 'restricted_permission'],
      ],
    );
    const invited = await gh.ctx.db
      .selectFrom('flows')
      .select('email')
      .where('kind', '=', 'invitation')
      .where('id', 'not in', ['', ...invitationsBefore.map((f) => f.id)])
      .orderBy('email')
      .execute();
    assert.deepEqual(
      invited.map((f) => f.email),
      ['admin@gatehouse.test', 'homed@other.test'],
    );
    const mine = await gh.ctx.db
      .selectFrom('users')
      .select('home_tenant_id')
      .where('email', '=', 'mine@acme.test')
      .executeTakeFirstOrThrow();
    assert.equal(mine.home_tenant_id, acme.tenantId);
    const homed = await gh.ctx.db.selectFrom('users').select('name').where('email', '=', 'homed@other.test').executeTakeFirstOrThrow();
    assert.equal(homed.name, 'Other');
    // A tenant administrator of the system tenant still cannot overwrite a system administrator.
    assert.equal((await gh.signIn('admin@gatehouse.test', 'admin-password-for-tests')).length > 0, true);
  });

  it('a caller without tenant.account.create is refused', async () => {
    await gh.createUser(acme.token, { email: 'plain@acme.test', password: PASSWORD });
    const token = await gh.tokenFor(await gh.signIn('plain@acme.test', PASSWORD), acme.tenantId);
    assert.equal((await importBody(gh, token, jsonl({ email: 'x@acme.test' }))).status, 403);
  });

  it('CSV with Cognito columns, a tenant and a roles column', async () => {
    const csv = [
      'cognito:username,name,given_name,family_name,email,email_verified,phone_number,phone_number_verified,locale,gender,password_hash,roles',
      `carl,Carl C,Carl,C,carl@csv.test,true,+15550100,true,en,male,${hashes.bcrypt2b},TENANT_ADMIN`,
      '"dora",Dora "D" Doe,Dora,,dora@csv.test,false,,,,,,',
      'eve,"Eve, with comma",,,bad-email,false,,,,,,',
    ].join('\r\n');
    const answer = await importBody(gh, admin, csv, { type: 'text/csv', query: 'tenant=acme' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.created, 2);
    assert.deepEqual(
      answer.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [[4, 'invalid_email']],
    );
    const carl = await gh.ctx.db.selectFrom('users').selectAll().where('email', '=', 'carl@csv.test').executeTakeFirstOrThrow();
    assert.equal(carl.username, 'carl');
    assert.equal(carl.email_verified, true);
    assert.equal(carl.phone_verified, true, 'Cognito’s phone_number_verified');
    assert.deepEqual(carl.user_metadata, { gender: 'male' });
    const members = await gh.members(admin, acme.tenantId);
    assert.deepEqual(
      members.find((m) => m.email === 'carl@csv.test')?.roles.map((r) => r.name),
      ['TENANT_ADMIN'],
    );
    assert.deepEqual(
      members.find((m) => m.email === 'dora@csv.test')?.roles.map((r) => r.name),
      ['USER'],
    );
    assert.equal((await gh.signIn('carl', PASSWORD)).length > 0, true);
  });

  it('CSV with an unknown header, a file not in UTF-8, or an unknown media type: 4xx with a code, nothing written', async () => {
    const users = await gh.rowCount('users');
    const unknown = await importBody(gh, admin, 'email,favourite_color\nz@csv.test,blue\n', { type: 'text/csv' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error, 'invalid_csv_header');
    assert.deepEqual(unknown.body.details.unknown, ['favourite_color']);
    const noEmail = await importBody(gh, admin, 'name\nZed\n', { type: 'text/csv' });
    assert.equal(noEmail.body.error, 'invalid_csv_header');
    const latin1 = Buffer.concat([
      Buffer.from('{"email":"ok@enc.test"}\n{"email":"z@enc.test","name":"'),
      Buffer.from([0xe9]),
      Buffer.from('"}\n'),
    ]);
    const encoding = await importBody(gh, admin, latin1);
    assert.equal(encoding.status, 400);
    assert.equal(encoding.body.error, 'invalid_encoding');
    const bom = await importBody(
      gh,
      admin,
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('email,name\nbom@enc.test,Bom\n')]),
      { type: 'text/csv' },
    );
    assert.equal(bom.body.created, 1, JSON.stringify(bom.body));
    const media = await importBody(gh, admin, 'x', { type: 'application/xml' });
    assert.equal(media.status, 415);
    assert.equal(await gh.rowCount('users'), users + 1);
  });

  it('a tenant administrator updates an existing user only when outranking them (the rule of every account change)', async () => {
    const roles = await gh.systemRoleIds();
    // Updating needs the update permission as well as create (decision 184; issue 12, item 2).
    const onboarder = await gh.created('/api/v1/roles', acme.token, {
      name: 'ONBOARDER',
      permissions: ['tenant.account.create', 'tenant.account.update', 'tenant.account.read', 'tenant.profile.read'],
    });
    await gh.createUser(acme.token, { email: 'onboarder@acme.test', password: PASSWORD, roles: [roles.USER!, onboarder.id] });
    await gh.createUser(acme.token, { email: 'member@acme.test', password: PASSWORD, name: 'Member' });
    await gh.createUser(acme.token, { email: 'chief@acme.test', password: PASSWORD, name: 'Chief', roles: [roles.TENANT_ADMIN!] });
    const token = await gh.tokenFor(await gh.signIn('onboarder@acme.test', PASSWORD), acme.tenantId);
    const answer = await importBody(
      gh,
      token,
      jsonl(
        { email: 'member@acme.test', name: 'Renamed' },
        { email: 'chief@acme.test', name: 'Taken over', password_hash: hashes.bcrypt2b },
      ),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.updated, 1);
    assert.deepEqual(
      answer.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [[2, 'forbidden']],
    );
    const names = await gh.ctx.db
      .selectFrom('users')
      .select(['email', 'name'])
      .where('email', 'in', ['member@acme.test', 'chief@acme.test'])
      .orderBy('email')
      .execute();
    assert.deepEqual(
      names.map((u) => u.name),
      ['Chief', 'Renamed'],
    );
    // The chief's password is untouched: the old one still signs in.
    assert.ok(await gh.signIn('chief@acme.test', PASSWORD));
  });

  it('definition lines: a system administrator creates the missing tenants, permissions and roles, leaves existing ones, reports the rest', async () => {
    const api = await gh.created('/api/v1/apis', admin, {
      identifier: 'https://api.acme.test',
      name: 'Things',
      tenant: acme.tenantId,
      permissions: [{ value: 'read:things' }],
    });
    const answer = await importBody(
      gh,
      admin,
      jsonl(
        { gatehouse_tenant: { slug: 'acme', name: 'Renamed ACME' } },
        {
          gatehouse_tenant: {
            slug: 'initech',
            name: 'Initech',
            branding: { display_name: 'Initech' },
            policies: { password: { min_length: 14 } },
          },
        },
        { gatehouse_tenant: { slug: 'Bad Slug!', name: 'Bad' } },
        { gatehouse_permission: { key: 'things:write', description: 'Write things', tenant: 'acme' } },
        {
          gatehouse_role: {
            name: 'THINGS',
            tenant: 'acme',
            permissions: ['things:write'],
            api_permissions: [
              { api: 'https://api.acme.test', value: 'read:things' },
              { api: 'https://nowhere.test', value: 'read:nothing' },
            ],
          },
        },
        { gatehouse_role: { name: 'tenant_admin', tenant: 'acme', permissions: [] } },
        { gatehouse_role: { name: 'LOST', tenant: 'nowhere' } },
        { gatehouse_tenant: { slug: 'loose', name: 'Loose', policies: { password: { min_length: 50, max_length: 20 } } } },
        { email: 'ivy@initech.test', password_hash: hashes.bcrypt2b, gatehouse: { tenants: [{ tenant: 'initech' }] } },
        { email: 'tom@acme.test', gatehouse: { tenants: [{ tenant: 'acme', roles: ['THINGS'] }] } },
      ),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(
      answer.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [
        [3, 'invalid_definition'],
        [7, 'unknown_tenant'],
        [8, 'invalid_definition'],
      ],
    );
    assert.deepEqual([answer.body.created, answer.body.failed], [2, 3]);
    assert.deepEqual(answer.body.definitions, {
      created: { tenants: 1, permissions: 1, roles: 1, groups: 0 },
      existing: { tenants: 1, permissions: 0, roles: 1, groups: 0 },
    });
    assert.deepEqual(
      answer.body.warnings.map((w: { line: number; warning: string }) => [w.line, w.warning]),
      [[5, 'unresolved_api_permission']],
    );
    assert.match(answer.body.warnings[0].message, /https:\/\/nowhere\.test read:nothing/);
    // Existing tenants are left as they are; a tenant whose policies do not hold is not created at all.
    const tenants = await gh.ctx.db.selectFrom('tenants').select(['slug', 'name', 'policies']).execute();
    assert.equal(tenants.find((t) => t.slug === 'acme')?.name, 'ACME');
    assert.deepEqual(tenants.find((t) => t.slug === 'initech')?.policies, { password: { min_length: 14 } });
    assert.equal(
      tenants.some((t) => t.slug === 'loose'),
      false,
    );
    const role = (await gh.request('GET', `/api/v1/roles?tenant=${acme.tenantId}`, { token: admin })).body.roles.find(
      (r: { name: string }) => r.name === 'THINGS',
    );
    assert.deepEqual(role.permissions, ['things:write']);
    const apiPermissions = await gh.request('GET', `/api/v1/roles/${role.id}/api-permissions`, { token: admin });
    assert.deepEqual(
      apiPermissions.body.permissions.map((p: { api_id: string; value: string }) => [p.api_id, p.value]),
      [[api.id, 'read:things']],
    );
    // Ivy, homed in the new tenant, signs in there.
    assert.ok(await gh.tokenFor(await gh.signIn('ivy@initech.test', PASSWORD), 'initech'));
    const member = (await gh.members(admin, acme.tenantId)).find((m) => m.email === 'tom@acme.test');
    assert.deepEqual(
      member?.roles.map((r) => r.name),
      ['THINGS'],
    );
    const audited = await gh.auditEvents(admin, { action: 'iam.tenant.created' });
    assert.ok(audited.some((e) => e.details.slug === 'initech'));
  });

  it('a tenant administrator’s import creates no tenant or role: definitions are ignored with a warning', async () => {
    const tenants = await gh.rowCount('tenants');
    const roles = await gh.rowCount('roles');
    const answer = await importBody(
      gh,
      acme.token,
      jsonl(
        { gatehouse_tenant: { slug: 'newco', name: 'NewCo' } },
        { gatehouse_role: { name: 'SNEAKY', tenant: 'acme', permissions: ['tenant.all'] } },
        { email: 'n@newco.test', gatehouse: { tenants: [{ tenant: 'newco' }] } },
      ),
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(
      answer.body.warnings.map((w: { line: number; warning: string }) => [w.line, w.warning]),
      [[1, 'definition_ignored']],
    );
    assert.deepEqual(
      answer.body.errors.map((e: { line: number; error: string }) => [e.line, e.error]),
      [[3, 'unknown_tenant']],
    );
    assert.equal(await gh.rowCount('tenants'), tenants);
    assert.equal(await gh.rowCount('roles'), roles);
  });

  it('a body over 64 MiB is 413 payload_too_large naming the import’s own limit (other routes name theirs)', async () => {
    const response = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/users/import',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson', 'content-length': String(64 * 1024 * 1024 + 1) },
      payload: '{"email":"big@size.test"}\n',
    });
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().error, 'payload_too_large');
    assert.match(response.json().message, /64 MiB/);
    const json = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/tenants',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', 'content-length': String(1024 * 1024 + 1) },
      payload: '{}',
    });
    assert.equal(json.statusCode, 413);
    assert.match(json.json().message, /1 MiB/);
  });

  it('the import is audited (one event per user and one summary), without secrets', async () => {
    const events = await gh.auditEvents(admin, { action: 'iam.users.imported' });
    assert.ok(events.length >= 1);
    assert.ok('created' in events[0]!.details);
    const created = await gh.auditEvents(admin, { action: 'iam.user.created' });
    assert.ok(created.some((e) => e.details.source === 'import'));
    for (const hash of Object.values(hashes)) assert.ok(!gh.logs.join('').includes(hash));
  });
});
