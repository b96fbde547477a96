import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import { Secret, TOTP } from 'otpauth';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from './helpers/gatehouse.js';
import { importBody, jsonl } from './helpers/transfer.js';

const PASSPHRASE = 'correct horse battery staple';
const BCRYPT_PASSWORD = 'an-old-bcrypt-password';

async function exportFile(gh: TestGatehouse, token: string, passphrase?: string) {
  const response = await gh.app.inject({
    method: 'GET',
    url: '/api/v1/users/export',
    headers: { authorization: `Bearer ${token}`, ...(passphrase && { 'x-export-passphrase': passphrase }) },
  });
  return { status: response.statusCode, text: response.body, type: response.headers['content-type'] };
}

/**
 * Export and import round trip through the real HTTP API: users with an argon2 password,
 * an imported bcrypt one, a TOTP factor, memberships and roles leave one Gatehouse
 * encrypted and sign in on another (its own database) with the same password and codes.
 */
describe('GET /api/v1/users/export and the round trip into another Gatehouse', { timeout: 180_000 }, () => {
  let source: TestGatehouse;
  let target: TestGatehouse;
  let acme: TenantAdmin;
  let admin: string;
  let seed: string;
  let bcrypt: string;
  let file: string;

  before(async () => {
    [source, target] = await Promise.all([startGatehouse(), startGatehouse()]);
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
    // Alice enrols TOTP as an authenticator app would.
    const session = await source.signIn('alice@acme.test', PASSWORD);
    const enrolment = await source.request('POST', '/api/v1/users/me/mfa/otp', { token: session, body: { name: 'Phone' } });
    seed = enrolment.body.secret;
    const totp = new TOTP({ secret: Secret.fromBase32(seed), algorithm: 'SHA1', digits: 6, period: 30 });
    const confirmed = await source.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: session,
      body: { otp: totp.generate() },
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
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

  it('streams JSON lines with every secret encrypted, and is audited', async () => {
    const answer = await exportFile(source, admin, PASSPHRASE);
    assert.equal(answer.status, 200);
    assert.match(String(answer.type), /application\/x-ndjson/);
    file = answer.text;
    const lines = file
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines[0].format, 'gatehouse-users');
    const alice = lines.find((l) => l.email === 'alice@acme.test');
    assert.deepEqual(alice.gatehouse.tenants, [{ tenant: 'acme', roles: ['TENANT_ADMIN'] }]);
    assert.ok(alice.password_hash.enc);
    assert.ok(alice.mfa_factors[0].totp.secret.enc);
    // No plaintext secret: not the seed, not a hash.
    assert.ok(!file.includes(seed));
    assert.ok(!file.includes(bcrypt));
    assert.ok(!file.includes('$argon2'));
    const events = await source.auditEvents(admin, { action: 'iam.users.exported' });
    assert.equal(events.length, 1);
  });

  it('a wrong or missing passphrase on import: a clear error, nothing written', async () => {
    const users = await target.rowCount('users');
    const targetAdmin = await target.adminToken();
    const wrong = await importBody(target, targetAdmin, file, { passphrase: 'not the right passphrase' });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.body.error, 'wrong_passphrase');
    const missing = await importBody(target, targetAdmin, file);
    assert.equal(missing.body.error, 'passphrase_required');
    assert.equal(await target.rowCount('users'), users);
  });

  it('imported into another Gatehouse, users sign in with their passwords and TOTP codes, with their memberships and roles', async () => {
    const targetAdmin = await target.adminToken();
    // The tenants exist on the target (the export carries memberships by slug, not tenants).
    await target.request('POST', '/api/v1/tenants', { token: targetAdmin, body: { slug: 'acme', name: 'ACME' } });
    const answer = await importBody(target, targetAdmin, file, { passphrase: PASSPHRASE });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.failed, 0, JSON.stringify(answer.body));
    assert.ok(answer.body.created >= 3);

    // Bob: the bcrypt hash came along and still verifies.
    const bob = await target.signIn('bob@acme.test', BCRYPT_PASSWORD);
    const tenant = (await target.request('GET', '/api/v1/organizations', { token: bob })).body;
    assert.ok(JSON.stringify(tenant).includes('acme'));

    // Alice: argon2 password, then the TOTP code from her authenticator.
    const first = await target.request('POST', '/api/v1/session', { body: { username: 'alice@acme.test', password: PASSWORD } });
    assert.equal(first.status, 401);
    assert.equal(first.body.error, 'mfa_required');
    const totp = new TOTP({ secret: Secret.fromBase32(seed), algorithm: 'SHA1', digits: 6, period: 30 });
    const opened = await target.request('POST', '/api/v1/session/mfa', { body: { mfa_token: first.body.mfa_token, otp: totp.generate() } });
    assert.equal(opened.status, 200, JSON.stringify(opened.body));
    const token = await target.tokenFor(opened.body.token, 'acme');
    const members = await target.request('GET', '/api/v1/users', { token });
    assert.equal(members.status, 200, 'TENANT_ADMIN came along');
  });
});
