/** Issue 6, part 6: block or unblock an IP address or CIDR range (IPv4 and IPv6), effective at once. */
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { listContains, parseCidr } from '../../../src/ops/ip-blocks/ip-blocks.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

describe('CIDR parsing and matching', () => {
  const contains = (cidr: string, ip: string) => {
    const c = parseCidr(cidr);
    const list = new BlockList();
    list.addSubnet(c.address, c.prefix, c.family);
    return listContains(list, ip);
  };

  it('matches IPv4 and IPv6 ranges, bare addresses and IPv4-mapped IPv6 addresses', () => {
    assert.equal(contains('203.0.113.0/24', '203.0.113.200'), true);
    assert.equal(contains('203.0.113.0/24', '203.0.114.1'), false);
    assert.equal(contains('203.0.113.7', '203.0.113.7'), true);
    assert.equal(contains('203.0.113.7', '203.0.113.8'), false);
    assert.equal(contains('203.0.113.0/24', '::ffff:203.0.113.9'), true, 'dual-stack sockets report IPv4 so');
    assert.equal(contains('2001:db8::/32', '2001:db8:ffff::1'), true);
    assert.equal(contains('2001:db8::/32', '2001:db9::1'), false);
    assert.equal(contains('2001:DB8::1', '2001:db8::1'), true);
    assert.equal(contains('0.0.0.0/0', '198.51.100.1'), true);
    assert.equal(contains('2001:db8::/32', '203.0.113.1'), false);
  });

  it('canonicalizes and refuses what is not an address or range', () => {
    assert.equal(parseCidr(' 203.0.113.7 ').text, '203.0.113.7/32');
    assert.equal(parseCidr('2001:DB8::/32').text, '2001:db8::/32');
    for (const bad of [
      '',
      'example.com',
      '203.0.113.0/33',
      '2001:db8::/129',
      '203.0.113.0/',
      '203.0.113.0/24/1',
      '1.2.3',
      '203.0.113.0/-1',
      '::1/0x10',
    ]) {
      assert.throws(
        () => parseCidr(bad),
        (error: { code?: string }) => error.code === 'invalid_cidr',
        bad,
      );
    }
  });
});

describe('/api/v1/ip-blocks and the block itself', () => {
  let gh: TestGatehouse;
  let admin: string;
  const ATTACKER = '203.0.113.66';

  const from = (ip: string, method: 'GET' | 'POST', url: string, body?: unknown, token?: string) =>
    gh.app.inject({
      method,
      url,
      remoteAddress: ip,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...(token && { authorization: `Bearer ${token}` }) },
      ...(body !== undefined && { payload: JSON.stringify(body) }),
    });
  const signInFrom = (ip: string) => from(ip, 'POST', '/api/v1/session', { username: ADMIN_EMAIL, password: ADMIN_PASSWORD });

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
  });
  after(() => gh.stop());

  it('blocks a range at once: sign-in, the token endpoints, the hosted pages and the API answer 403 ip_blocked; health and JWKS stay open', async () => {
    assert.equal((await signInFrom(ATTACKER)).statusCode, 200);
    const block = await gh.created('/api/v1/ip-blocks', admin, { cidr: '203.0.113.0/24', reason: 'credential stuffing' });
    assert.equal(block.cidr, '203.0.113.0/24');
    assert.equal(block.active, true);
    assert.equal(block.expires_at, null);

    const refused = await signInFrom(ATTACKER);
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json().error, 'ip_blocked');
    for (const [method, url] of [
      ['POST', '/oauth/token'],
      ['GET', '/authorize?client_id=x'],
      ['POST', '/api/v1/token'],
      ['GET', '/interaction/abc'],
      ['GET', '/api/v1/users'],
    ] as const) {
      const response = await from(ATTACKER, method, url);
      assert.equal(response.statusCode, 403, `${method} ${url}`);
      if (!url.startsWith('/interaction')) assert.equal(response.json().error, 'ip_blocked', url);
    }
    assert.equal((await from(ATTACKER, 'GET', '/.well-known/jwks.json')).statusCode, 200);
    assert.equal((await from(ATTACKER, 'GET', '/.well-known/openid-configuration')).statusCode, 200);
    assert.equal((await from(ATTACKER, 'GET', '/healthz')).statusCode, 200);
    // Another address, and the IPv4-mapped form of a blocked one.
    assert.equal((await signInFrom('198.51.100.1')).statusCode, 200);
    assert.equal((await signInFrom(`::ffff:${ATTACKER}`)).statusCode, 403);

    const event = (await gh.auditEvents(admin, { action: 'iam.ip.blockCreated' })).find((e) => e.target_id === block.id);
    assert.equal(event?.details.cidr, '203.0.113.0/24');
    assert.equal(event?.details.reason, 'credential stuffing');

    const listed = await gh.request('GET', '/api/v1/ip-blocks', { token: admin });
    assert.deepEqual(
      listed.body.ip_blocks.map((b: { id: string }) => b.id),
      [block.id],
    );

    const removed = await gh.request('DELETE', `/api/v1/ip-blocks/${block.id}`, { token: admin });
    assert.equal(removed.status, 204);
    assert.equal((await signInFrom(ATTACKER)).statusCode, 200, 'unblocked at once on this node');
    assert.equal((await gh.auditEvents(admin, { action: 'iam.ip.blockDeleted' })).filter((e) => e.target_id === block.id).length, 1);
    assert.equal((await gh.request('DELETE', `/api/v1/ip-blocks/${block.id}`, { token: admin })).status, 404);
  });

  it('blocks IPv6 ranges', async () => {
    const block = await gh.created('/api/v1/ip-blocks', admin, { cidr: '2001:db8::/32', reason: 'botnet' });
    assert.equal((await signInFrom('2001:db8:1::5')).statusCode, 403);
    assert.equal((await signInFrom('2001:db9::5')).statusCode, 200);
    await gh.request('DELETE', `/api/v1/ip-blocks/${block.id}`, { token: admin });
  });

  it('a block with an expiry ends by itself', async () => {
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const block = await gh.created('/api/v1/ip-blocks', admin, { cidr: '192.0.2.1', reason: 'for an hour', expires_at: expiresAt });
    assert.equal(block.cidr, '192.0.2.1/32');
    assert.equal((await signInFrom('192.0.2.1')).statusCode, 403);
    // Moved into the past in the database, as if the hour had gone by (then the cache entry is forgotten by a change).
    await gh.ctx.db
      .updateTable('ip_blocks')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', block.id)
      .execute();
    const other = await gh.created('/api/v1/ip-blocks', admin, { cidr: '192.0.2.200', reason: 'unrelated' });
    assert.equal((await signInFrom('192.0.2.1')).statusCode, 200);
    const listed = (await gh.request('GET', '/api/v1/ip-blocks', { token: admin })).body.ip_blocks as { id: string; active: boolean }[];
    assert.equal(listed.find((b) => b.id === block.id)?.active, false);
    await gh.request('DELETE', `/api/v1/ip-blocks/${other.id}`, { token: admin });
  });

  it('refuses bad input with stable codes, a block of the caller’s own address, a duplicate, and non-system callers', async () => {
    const post = (body: unknown, token = admin) => gh.request('POST', '/api/v1/ip-blocks', { token, body });
    assert.equal((await post({ cidr: 'not-an-ip', reason: 'x' })).body.error, 'invalid_cidr');
    assert.equal((await post({ cidr: '10.0.0.0/40', reason: 'x' })).body.error, 'invalid_cidr');
    assert.equal((await post({ cidr: '10.0.0.1' })).status, 400);
    assert.equal((await post({ cidr: '10.0.0.1', reason: 'x', expires_at: '2001-01-01T00:00:00Z' })).body.error, 'invalid_field');
    // inject's default remote address is 127.0.0.1.
    const self = await post({ cidr: '127.0.0.0/8', reason: 'oops' });
    assert.equal(self.status, 400);
    assert.equal(self.body.error, 'ip_block_self');
    const first = await post({ cidr: '10.1.0.0/16', reason: 'x' });
    assert.equal(first.status, 201);
    const again = await post({ cidr: '10.1.0.0/16', reason: 'y' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error, 'ip_block_exists');
    const acme = await gh.tenantWithAdmin('acme');
    assert.equal((await post({ cidr: '10.2.0.0/16', reason: 'x' }, acme.token)).status, 403);
    assert.equal((await gh.request('GET', '/api/v1/ip-blocks', { token: acme.token })).status, 403);
  });
});
