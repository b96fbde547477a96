import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BackupDecryptor, MAGIC } from '../../src/ops/backup/format.js';
import { data as migrationData } from '../../src/platform/db/migrations/0021_protection_validation.js';
import { AppError } from '../../src/platform/errors.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';

/** Each path attacks accounts of its own, so that what one path let through cannot make another look safe. */
const PATHS = ['signup', 'admin', 'invitation', 'change', 'import', 'start'] as const;
type Path = (typeof PATHS)[number];
const victim = (path: Path) => `victim.${path}@example.test`;
const owner = (path: Path) => `owner.${path}@b\u00fccher.example`;

/** The look-alikes of `victim.<path>@example.test` (and of the IDN `owner.<path>@bücher.example`) that created second accounts. */
const lookAlikes = (path: Path): Record<string, string> => ({
  'zero-width space': `vic\u200btim.${path}@example.test`,
  'soft hyphen': `vic\u00adtim.${path}@example.test`,
  'Cyrillic homoglyph': `vi\u0441tim.${path}@example.test`,
  'trailing dot': `victim.${path}@example.test.`,
  'fullwidth letters': `\uff56ictim.${path}@example.test`,
  'upper-case domain': `victim.${path}@EXAMPLE.test`,
  'punycode twin': `owner.${path}@xn--bcher-kva.example`,
  'IDN in capitals': `owner.${path}@B\u00dcCHER.example`,
});
const NAMES = Object.keys(lookAlikes('signup'));

/**
 * Issue 12, item 12: one email validator for every path. Each look-alike of an existing
 * address is refused (400 invalid_email) or found to be that address (the existing account
 * answers); none creates a second account.
 */
describe('V5 (ASVS 5.1): look-alike email addresses', () => {
  let gh: TestGatehouse;
  let admin: string;
  let open: TenantAdmin;
  let clientId: string;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    open = await gh.tenantWithAdmin('open');
    const policies = await gh.request('PATCH', `/api/v1/tenants/${open.tenantId}/policies`, {
      token: open.token,
      body: { signup: { enabled: true }, passwordless: { methods: ['email_code'] } },
    });
    assert.equal(policies.status, 200, JSON.stringify(policies.body));
    clientId = (
      await gh.created('/api/v1/applications', open.token, { name: 'Portal', type: 'web', redirect_uris: ['http://localhost/cb'] })
    ).client_id;
    for (const path of PATHS) {
      await gh.createUser(open.token, { email: victim(path), password: PASSWORD });
      // The IDN account signs itself up (the admin API of the old code took no IDN at all).
      assert.equal((await signup(owner(path))).status, 200);
    }
  });
  after(() => gh.stop());

  async function signup(email: string) {
    const started = await gh.request('POST', '/api/v1/flows/registration', { body: { client_id: clientId } });
    assert.equal(started.status, 201, JSON.stringify(started.body));
    return gh.request('POST', `/api/v1/flows/registration/${started.body.id}`, { body: { email, password: PASSWORD } });
  }

  const users = () => gh.rowCount('users');
  /** Refused as malformed, or taken: anything but a new account. */
  const refusedOrTaken = (answer: { status: number; body: { error?: string } }, what: string) => {
    assert.ok(
      (answer.status === 400 && answer.body.error === 'invalid_email') || (answer.status === 409 && answer.body.error === 'email_taken'),
      `${what}: ${answer.status} ${JSON.stringify(answer.body)}`,
    );
  };

  it('the IDN account is stored in its one ASCII form', async () => {
    const row = await gh.ctx.db.selectFrom('users').select('email').where('email', 'like', 'owner.signup@%').executeTakeFirstOrThrow();
    assert.equal(row.email, 'owner.signup@xn--bcher-kva.example');
  });

  for (const name of NAMES) {
    it(`sign-up with a ${name} creates no second account`, async () => {
      const address = lookAlikes('signup')[name]!;
      const before = await users();
      const answer = await signup(address);
      if (answer.status !== 200) assert.equal(answer.body.error, 'invalid_email', JSON.stringify(answer.body));
      assert.equal(await users(), before, JSON.stringify(answer.body));
    });

    it(`the admin API refuses a ${name} on create and on update`, async () => {
      const address = lookAlikes('admin')[name]!;
      const before = await users();
      refusedOrTaken(
        await gh.request('POST', '/api/v1/users', { token: open.token, body: { email: address, password: PASSWORD } }),
        'create',
      );
      assert.equal(await users(), before);
      const other = await gh.createUser(admin, { email: `other-${before}@example.test`, password: PASSWORD });
      refusedOrTaken(await gh.request('PATCH', `/api/v1/users/${other}`, { token: admin, body: { email: address } }), 'update');
    });

    it(`an invitation to a ${name} is refused or goes to the existing account`, async () => {
      const address = lookAlikes('invitation')[name]!;
      const before = await users();
      const answer = await gh.request('POST', `/api/v1/tenants/${open.tenantId}/invitations`, { token: admin, body: { email: address } });
      assert.ok(
        (answer.status === 400 && answer.body.error === 'invalid_email') ||
          (answer.status === 409 && answer.body.error === 'already_member') ||
          answer.status === 201,
        JSON.stringify(answer.body),
      );
      assert.equal(await users(), before, 'no pending user for a look-alike');
    });
  }

  it('an email change to a look-alike of another account is refused', async () => {
    await gh.createUser(open.token, { email: 'mallory@example.test', password: PASSWORD });
    const session = await gh.signIn('mallory@example.test', PASSWORD);
    for (const [name, address] of Object.entries(lookAlikes('change'))) {
      const answer = await gh.request('POST', '/api/v1/users/me/email', { token: session, body: { email: address, password: PASSWORD } });
      // A taken address is answered as a free one (decision 189): what counts is that the
      // look-alike is refused, or normalised to the victim's own spelling (never a new one).
      const victim = address.startsWith('owner.') ? 'owner.change@xn--bcher-kva.example' : 'victim.change@example.test';
      if (answer.status === 202) assert.equal(answer.body.flow.email, victim, `${name} is normalised to the existing address`);
      else refusedOrTaken(answer, name);
    }
  });

  it('an import line with a look-alike is refused or matches the existing account', async () => {
    const before = await users();
    const lines = Object.values(lookAlikes('import')).map((email) => JSON.stringify({ email, name: 'Imported' }));
    const answer = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/users/import',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson' },
      payload: `${lines.join('\n')}\n`,
    });
    assert.equal(answer.statusCode, 200, answer.body);
    assert.equal(answer.json().created, 0, answer.body);
    assert.equal(await users(), before);
  });

  it('the migration rewrites addresses stored before the validator, and leaves a look-alike of another account', async () => {
    const insert = async (email: string) => {
      const id = gh.ctx.ids.next();
      const now = new Date();
      await gh.ctx.db
        .insertInto('users')
        .values({ id, email, status: 'active', user_metadata: '{}', app_metadata: '{}', created_at: now, updated_at: now })
        .execute();
      return id;
    };
    const original = await insert('legacy@example.test');
    const twin = await insert('LEGACY@Example.test.');
    const idn = await insert('Owner.Legacy@B\u00dcCHER.example');
    const cyrillic = await insert('\u0438\u0432\u0430\u043d@example.test');
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (message: string) => warned.push(message);
    try {
      await migrationData(gh.ctx.db);
    } finally {
      console.warn = warn;
    }
    const emails = Object.fromEntries(
      (await gh.ctx.db.selectFrom('users').select(['id', 'email']).where('id', 'in', [original, twin, idn, cyrillic]).execute()).map(
        (row) => [row.id, row.email],
      ),
    );
    assert.deepEqual(emails, {
      [original]: 'legacy@example.test',
      [twin]: 'LEGACY@Example.test.',
      [idn]: 'Owner.Legacy@xn--bcher-kva.example',
      [cyrillic]: '\u0438\u0432\u0430\u043d@example.test',
    });
    assert.match(warned.join('\n'), new RegExp(twin));
    await gh.ctx.db.deleteFrom('users').where('id', 'in', [original, twin, idn, cyrillic]).execute();
  });

  it('recovery and passwordless starts refuse a malformed look-alike and find the account for a normalised one', async () => {
    const start = lookAlikes('start');
    for (const address of [start['zero-width space']!, start['soft hyphen']!, start['Cyrillic homoglyph']!]) {
      const recovery = await gh.request('POST', '/api/v1/flows/recovery', { body: { email: address } });
      assert.equal(recovery.status, 400, JSON.stringify(recovery.body));
      assert.equal(recovery.body.error, 'invalid_email');
      const passwordless = await gh.request('POST', '/api/v1/flows/passwordless', {
        body: { client_id: clientId, method: 'email_code', email: address },
      });
      assert.equal(passwordless.status, 400, JSON.stringify(passwordless.body));
      assert.equal(passwordless.body.error, 'invalid_email');
    }
    const mails = () => gh.ctx.db.selectFrom('emails').select('id').where('recipient', '=', victim('start')).execute();
    const sent = (await mails()).length;
    assert.equal((await gh.request('POST', '/api/v1/flows/recovery', { body: { email: start['trailing dot'] } })).status, 202);
    assert.equal((await mails()).length, sent + 1, 'the reset link goes to the account the address names');
  });
});

/** Issue 12, item 13: an oversized body is the framework's 413 with a stable code on every surface, never a 500. */
describe('V5 (ASVS 13.1): oversized bodies answer 413', () => {
  let gh: TestGatehouse;
  let admin: string;
  const huge = `a=${'x'.repeat(10 * 1024 * 1024)}`;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
  });
  after(() => gh.stop());

  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const pages = [
    '/interaction/some-uid/login',
    '/interaction/some-uid/mfa',
    '/interaction/some-uid/mfa/send',
    '/signup/some-flow',
    '/verify/some-flow',
    '/recovery',
    '/recovery/reset',
    '/passwordless/some-flow',
    '/invitation',
    '/account/sign-in',
    '/account/password',
    '/account/email',
    '/account/delete',
    '/unblock',
  ];

  for (const url of pages) {
    it(`a 10 MB form posted to ${url} is 413 payload_too_large`, async () => {
      const answer = await gh.app.inject({ method: 'POST', url, headers: form, payload: huge });
      assert.equal(answer.statusCode, 413, answer.body.slice(0, 500));
      assert.match(answer.body, /payload_too_large/);
    });
  }

  it('a 10 MB JSON body posted to a hosted page is 413 too', async () => {
    const answer = await gh.app.inject({
      method: 'POST',
      url: '/account/sign-in',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ a: huge }),
    });
    assert.equal(answer.statusCode, 413, answer.body.slice(0, 500));
    assert.match(answer.body, /payload_too_large/);
  });

  it('/oauth/token and the MFA API answer 413 in the OAuth error shape', async () => {
    const token = await gh.app.inject({ method: 'POST', url: '/oauth/token', headers: form, payload: huge });
    assert.equal(token.statusCode, 413, token.body.slice(0, 300));
    assert.equal(token.json().error, 'invalid_request');
    const mfa = await gh.app.inject({
      method: 'POST',
      url: '/mfa/challenge',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ mfa_token: huge }),
    });
    assert.equal(mfa.statusCode, 413, mfa.body.slice(0, 300));
    assert.equal(mfa.json().error, 'invalid_request');
  });

  it('the user import and the JSON twins answer 413 payload_too_large', async () => {
    const imported = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/users/import',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-ndjson', 'content-length': String(64 * 1024 * 1024 + 1) },
      payload: '{"email":"big@size.test"}\n',
    });
    assert.equal(imported.statusCode, 413);
    assert.equal(imported.json().error, 'payload_too_large');
    const twin = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/flows/recovery',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: huge }),
    });
    assert.equal(twin.statusCode, 413);
    assert.equal(twin.json().error, 'payload_too_large');
  });
});

/** Issue 12, resource limits: a crafted backup header cannot make its restorer derive an arbitrarily costly scrypt key. */
describe('V5 (ASVS 5.2): the backup header’s scrypt cost is bounded', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.stop());

  const header = (kdf: Record<string, unknown>) => {
    const json = Buffer.from(
      JSON.stringify({ schema: [], created_at: new Date().toISOString(), kdf: { name: 'scrypt', salt: 'c2FsdA==', ...kdf } }),
    );
    const length = Buffer.alloc(4);
    length.writeUInt32BE(json.length);
    return Buffer.concat([MAGIC, Buffer.from([1]), length, json, Buffer.alloc(16)]);
  };
  async function* bytes(file: Buffer) {
    yield file;
  }

  for (const [name, kdf] of Object.entries({
    'N above what Gatehouse writes': { N: 2 ** 17, r: 8, p: 1 },
    'r above what Gatehouse writes': { N: 2 ** 15, r: 16, p: 1 },
    'p above what Gatehouse writes': { N: 2 ** 15, r: 8, p: 4 },
  })) {
    it(`a header with ${name} is refused before any key is derived (kdf_too_expensive)`, async () => {
      const started = performance.now();
      await assert.rejects(BackupDecryptor.open(bytes(header(kdf)), 'a-long-passphrase'), (error: unknown) => {
        assert.ok(error instanceof AppError, String(error));
        assert.equal(error.code, 'kdf_too_expensive');
        assert.equal(error.status, 400);
        return true;
      });
      assert.ok(performance.now() - started < 50, 'no scrypt ran');
    });
  }

  it('a user export whose header asks for more is refused the same way by the import', async () => {
    const header = {
      format: 'gatehouse-users',
      version: 2,
      created_at: new Date().toISOString(),
      kdf: { name: 'scrypt', N: 2 ** 17, r: 8, p: 1, salt: 'c2FsdA==' },
      check: { enc: 'aaaa.bbbb.cccc' },
    };
    const answer = await gh.app.inject({
      method: 'POST',
      url: '/api/v1/users/import',
      headers: {
        authorization: `Bearer ${await gh.adminToken()}`,
        'content-type': 'application/x-ndjson',
        'x-export-passphrase': 'a-long-passphrase',
      },
      payload: `${JSON.stringify(header)}\n`,
    });
    assert.equal(answer.statusCode, 400, answer.body);
    assert.equal(answer.json().error, 'kdf_too_expensive');
  });
});
