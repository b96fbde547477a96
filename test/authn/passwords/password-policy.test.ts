import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { commonPasswords } from '../../../src/authn/passwords/deny-list.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { freePort } from '../../helpers/oidc.js';

/** A local server that answers like Have I Been Pwned's range API; remembers the paths it was asked. */
async function fakePwnedPasswords(leaked: string[]): Promise<{ url: string; asked: string[]; server: Server }> {
  const asked: string[] = [];
  const hashes = leaked.map((p) => createHash('sha1').update(p).digest('hex').toUpperCase());
  const server = createServer((request, response) => {
    asked.push(request.url ?? '');
    const prefix = request.url?.split('/range/')[1] ?? '';
    const lines = hashes.filter((h) => h.startsWith(prefix)).map((h) => `${h.slice(5)}:42`);
    // Padding, as the real service adds: suffixes with a count of 0.
    lines.push('0000000000000000000000000000000000A:0', 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0');
    response.writeHead(200, { 'content-type': 'text/plain' }).end(lines.join('\r\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, asked, server };
}

describe('password policy (issue 4, part 2)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let tenantId: string;
  let hibp: Awaited<ReturnType<typeof fakePwnedPasswords>>;

  before(async () => {
    hibp = await fakePwnedPasswords(['leaked-but-long-enough']);
    gh = await startGatehouse({ config: { hibpUrl: hibp.url } });
    admin = await gh.adminToken();
    ({ tenantId } = await gh.tenantWithAdmin('acme'));
  });
  after(async () => {
    await gh.stop();
    hibp.server.close();
  });

  const create = (body: Record<string, unknown>) =>
    gh.request('POST', '/api/v1/users', { token: admin, body: { tenant: tenantId, ...body } });
  const setPolicy = (password: Record<string, unknown>) =>
    gh.request('PATCH', `/api/v1/tenants/${tenantId}/policies`, { token: admin, body: { password } });

  it('ships a deny-list of at least 100,000 common passwords, compared in any letter case', async () => {
    assert.ok((await commonPasswords()).size >= 95_000, 'lower-cased, the list keeps at least 95,000 distinct entries');
    for (const password of ['1234567890', 'qwertyuiop', 'QwertyUIOP', 'basketball']) {
      const response = await create({ email: `common-${password.toLowerCase()}@acme.test`, password });
      assert.equal(response.status, 400, password);
      assert.equal(response.body.error, 'password_too_common', password);
    }
  });

  it('names the length rule that failed, with the tenant’s own minimum', async () => {
    assert.equal((await create({ email: 'short@acme.test', password: 'nine-char' })).body.error, 'password_too_short');
    assert.equal((await create({ email: 'long@acme.test', password: 'x'.repeat(129) })).body.error, 'password_too_long');
    assert.equal((await setPolicy({ min_length: 16 })).status, 200);
    const short = await create({ email: 'len16@acme.test', password: 'fifteen-chars-x' });
    assert.equal(short.body.error, 'password_too_short');
    assert.match(short.body.message, /16/);
    assert.equal((await create({ email: 'len16@acme.test', password: 'sixteen-chars-xy' })).status, 201);
    await setPolicy({ min_length: 10 });
  });

  it('refuses a password containing the email, its local part, the username or a name part', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ email: 'jane.doe@acme.test' }, 'x-Jane.Doe@Acme.test-x'],
      [{ email: 'jane.doe@acme.test' }, 'my-JANE.DOE-secret'],
      [{ email: 'kim@acme.test', username: 'kimberly77' }, 'i-am-kimberly77!'],
      [{ email: 'k1@acme.test', name: 'Kim Wexler' }, 'wexlerwexler-99'],
      [{ email: 'k2@acme.test', given_name: 'Saul', family_name: 'Goodman' }, 'better-call-saul'],
    ];
    for (const [user, password] of cases) {
      const response = await create({ ...user, password });
      assert.equal(response.body.error, 'password_contains_user_info', password);
    }
    // Parts shorter than four characters are not held against a password.
    assert.equal((await create({ email: 'li@acme.test', name: 'Li Wu', password: 'li-wu-and-a-long-tail' })).status, 201);
  });

  it('refuses one of the last N passwords when the tenant keeps a history', async () => {
    assert.equal((await setPolicy({ history: 2 })).status, 200);
    const id = (await create({ email: 'history@acme.test', password: 'first-password-1' })).body.id;
    const set = (password: string) => gh.request('PATCH', `/api/v1/users/${id}`, { token: admin, body: { password } });
    assert.equal((await set('first-password-1')).body.error, 'password_reused');
    assert.equal((await set('second-password-2')).status, 200);
    assert.equal((await set('first-password-1')).body.error, 'password_reused');
    assert.equal((await set('third-password-3')).status, 200);
    assert.equal((await set('first-password-1')).status, 200, 'only the last two are remembered');
    const session = await gh.signIn('history@acme.test', 'first-password-1');
    const own = await gh.request('POST', '/api/v1/users/me/password', {
      token: session,
      body: { current_password: 'first-password-1', new_password: 'third-password-3' },
    });
    assert.equal(own.body.error, 'password_reused');
    assert.ok((await gh.rowCount('password_history')) <= 2 + 5, 'old hashes are pruned');
    await setPolicy({ history: 0 });
  });

  it('asks Have I Been Pwned with the first five hex digits of the SHA-1 only, when the tenant turns it on', async () => {
    assert.equal((await create({ email: 'pwned0@acme.test', password: 'leaked-but-long-enough' })).status, 201, 'off by default');
    assert.equal(hibp.asked.length, 0);
    await setPolicy({ check_breached: true });
    const leaked = await create({ email: 'pwned1@acme.test', password: 'leaked-but-long-enough' });
    assert.equal(leaked.body.error, 'password_breached');
    assert.equal((await create({ email: 'pwned2@acme.test', password: 'never-leaked-anywhere-7' })).status, 201);
    assert.equal(hibp.asked.length, 2);
    for (const path of hibp.asked) assert.match(path, /^\/range\/[0-9A-F]{5}$/);
    await setPolicy({ check_breached: false });
  });

  it('accepts the password when the breach service cannot be reached (fails open, with a warning)', async () => {
    const down = await startGatehouse({ config: { hibpUrl: `http://127.0.0.1:${await freePort()}` } });
    try {
      const token = await down.adminToken();
      const tenant = (await down.created('/api/v1/tenants', token, { slug: 'offline', name: 'Offline' })).id;
      const patched = await down.request('PATCH', `/api/v1/tenants/${tenant}/policies`, {
        token,
        body: { password: { check_breached: true } },
      });
      assert.equal(patched.status, 200);
      const response = await down.request('POST', '/api/v1/users', {
        token,
        body: { email: 'open@x.test', password: 'leaked-but-long-enough', tenant },
      });
      assert.equal(response.status, 201);
      assert.ok(down.logs.some((line) => line.includes('Breached-password check unavailable')));
      assert.ok(!down.logs.some((line) => line.includes('leaked-but-long-enough')));
    } finally {
      await down.stop();
    }
  });

  it('tells custom forms the rules: GET /api/v1/password-policy, no token needed', async () => {
    await setPolicy({ min_length: 12, history: 3 });
    const response = await gh.request('GET', '/api/v1/password-policy?tenant=acme');
    assert.equal(response.status, 200);
    assert.equal(response.body.min_length, 12);
    assert.equal(response.body.history, 3);
    assert.equal(response.body.common_passwords_refused, true);
    assert.ok(response.body.rules.some((rule: string) => rule.includes('12 characters')));
    assert.ok(response.body.rules.some((rule: string) => rule.includes('last 3 passwords')));
    assert.equal((await gh.request('GET', `/api/v1/password-policy?tenant=${tenantId}`)).body.min_length, 12);
    assert.equal((await gh.request('GET', '/api/v1/password-policy')).body.min_length, 10, 'the system tenant’s');
    assert.equal((await gh.request('GET', '/api/v1/password-policy?tenant=nope')).status, 404);
    await setPolicy({ min_length: 10, history: 0 });
  });

  it('applies to a user without a home tenant through the system tenant’s policy', async () => {
    const system = (await gh.systemAdmin()).systemTenantId;
    await gh.request('PATCH', `/api/v1/tenants/${system}/policies`, { token: admin, body: { password: { min_length: 14 } } });
    const response = await gh.request('POST', '/api/v1/users', {
      token: admin,
      body: { email: 'global@example.test', password: 'only-13-chars' },
    });
    assert.equal(response.body.error, 'password_too_short');
    await gh.request('PATCH', `/api/v1/tenants/${system}/policies`, { token: admin, body: { password: { min_length: 10 } } });
  });
});
