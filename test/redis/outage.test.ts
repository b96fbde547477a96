import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { PASSWORD, startGatehouse, type TestGatehouse } from '../helpers/gatehouse.js';
import { addresses, attempt, countVerifies, TestClock } from '../helpers/lockout-suite.js';
import './redis-url.js';

/**
 * A Redis of this test's own, on a spare port, that the test stops, freezes and starts
 * again (the shared Redis of the machine is never touched). No persistence: a restart
 * comes back empty.
 */
class OwnRedis {
  child: ChildProcess | undefined;
  constructor(readonly port: number) {}
  get url() {
    return `redis://127.0.0.1:${this.port}/0`;
  }
  async start() {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.child = child;
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    for (let i = 0; i < 100 && !/Ready to accept connections/.test(output); i++) await sleep(50);
    assert.match(output, /Ready to accept connections/, 'redis-server started');
  }
  async kill() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
  freeze = () => this.child?.kill('SIGSTOP');
  thaw = () => this.child?.kill('SIGCONT');
  async keys(): Promise<number> {
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await client.connect();
      return await client.dbsize();
    } finally {
      client.disconnect();
    }
  }
}

/** A TCP port nothing listens on now. */
async function unusedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** One timed sign-in attempt: the answer, and how long it took. */
async function timed(gh: TestGatehouse, username: string, password: string, ip: string) {
  const started = performance.now();
  const answer = await attempt(gh, username, password, ip);
  return { ...answer, ms: performance.now() - started };
}

const warningsOf = (gh: TestGatehouse, text: string) => gh.logs.filter((line) => line.includes(text)).length;

/** Issue 18 (decision 313): while Redis is down, brute-force protection is never a 500 and never off. */
describe('brute-force protection while Redis is down', { timeout: 120_000 }, () => {
  describe('GATEHOUSE_REDIS_FAILURE=fallback (the default): the PostgreSQL counters', () => {
    let redis: OwnRedis;
    let gh: TestGatehouse;
    let admin: string;
    const clock = new TestClock();
    const ip = addresses();
    before(async () => {
      redis = new OwnRedis(await unusedPort());
      await redis.start();
      gh = await startGatehouse({ clock, config: { redisUrl: redis.url } });
      admin = await gh.adminToken();
    });
    after(async () => {
      await gh?.stop();
      redis.thaw();
      await redis.kill();
    });
    const newUser = (email: string) => gh.createUser(admin, { email, password: PASSWORD });

    it('counts and locks out in PostgreSQL while Redis is stopped, with one warning, and goes back to Redis when it returns', async () => {
      assert.equal(gh.ctx.config.redisFailure, 'fallback');
      await newUser('before@outage.test');
      assert.equal((await attempt(gh, 'before@outage.test', 'wrong-password', ip.next())).status, 401);
      assert.ok((await redis.keys()) > 0, 'counted in Redis while it is up');
      const rowsBefore = await gh.rowCount('attempt_accounts');

      await redis.kill();
      const userId = await newUser('during@outage.test');
      for (let i = 1; i <= 5; i++) {
        const wrong = await timed(gh, 'during@outage.test', 'wrong-password', ip.next());
        assert.equal(wrong.status, 401, `failure ${i} is checked and counted`);
        assert.ok(wrong.ms < 1000, `failure ${i} answered in ${Math.round(wrong.ms)} ms`);
      }
      const locked = await timed(gh, 'during@outage.test', PASSWORD, ip.next());
      assert.equal(locked.status, 429, 'locked out through the PostgreSQL counters: not unprotected');
      assert.equal(locked.retryAfter, '1');
      const row = await gh.ctx.db.selectFrom('attempt_accounts').selectAll().where('subject', '=', userId).executeTakeFirst();
      assert.equal(row?.failures, 5, 'the failures are in PostgreSQL');
      assert.ok((await gh.rowCount('attempt_accounts')) > rowsBefore);
      assert.equal(warningsOf(gh, 'Redis (brute-force counters) failed'), 1, 'one warning for the outage, not one per request');

      clock.advance(1);
      assert.equal((await attempt(gh, 'during@outage.test', PASSWORD, ip.next())).status, 200, 'the lockout passes as it would in Redis');

      await redis.start();
      assert.equal(await redis.keys(), 0, 'Redis came back empty');
      await newUser('after@outage.test');
      const deadline = performance.now() + 10_000;
      while ((await redis.keys()) === 0 && performance.now() < deadline) {
        assert.equal((await attempt(gh, 'after@outage.test', 'wrong-password', ip.next())).status, 401);
        clock.advance(60);
        await sleep(250);
      }
      assert.ok((await redis.keys()) > 0, 'counting in Redis again');
      assert.equal(warningsOf(gh, 'Redis (brute-force counters) answers again'), 1);
    });

    it('a Redis that hangs (SIGSTOP) costs one command timeout, then the PostgreSQL counters answer at once', async () => {
      await newUser('frozen@outage.test');
      redis.freeze();
      try {
        const first = await timed(gh, 'frozen@outage.test', 'wrong-password', ip.next());
        assert.equal(first.status, 401);
        assert.ok(first.ms < 2000, `the first attempt waited ${Math.round(first.ms)} ms (one command timeout)`);
        const next = await timed(gh, 'frozen@outage.test', 'wrong-password', ip.next());
        assert.equal(next.status, 401);
        assert.ok(next.ms < 400, `the next attempt answered in ${Math.round(next.ms)} ms, not waiting for Redis`);
      } finally {
        redis.thaw();
      }
    });
  });

  describe('GATEHOUSE_REDIS_FAILURE=closed: 503 with Retry-After', () => {
    let redis: OwnRedis;
    let gh: TestGatehouse;
    let admin: string;
    const ip = addresses();
    before(async () => {
      redis = new OwnRedis(await unusedPort());
      await redis.start();
      gh = await startGatehouse({ config: { redisUrl: redis.url, redisFailure: 'closed' } });
      admin = await gh.adminToken();
    });
    after(async () => {
      await gh?.stop();
      await redis.kill();
    });

    it('refuses sign-ins (the API and the password grant) with 503 while Redis is down, never checking the password, and serves again after', async () => {
      await gh.createUser(admin, { email: 'closed@outage.test', password: PASSWORD });
      const app = await gh.created('/api/v1/applications', admin, {
        name: 'Grant app',
        type: 'web',
        redirect_uris: ['http://localhost:4000/callback'],
        grant_types: ['authorization_code', 'password'],
      });
      const grant = () =>
        gh.app.inject({
          method: 'POST',
          url: '/oauth/token',
          remoteAddress: ip.next(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            grant_type: 'password',
            username: 'closed@outage.test',
            password: PASSWORD,
            client_id: app.client_id,
            client_secret: app.client_secret,
          }).toString(),
        });
      assert.equal((await attempt(gh, 'closed@outage.test', PASSWORD, ip.next())).status, 200);
      assert.equal((await grant()).statusCode, 200);

      await redis.kill();
      const rowsBefore = await gh.rowCount('attempt_accounts');
      const hashes = await countVerifies(gh, async () => {
        for (const password of [PASSWORD, 'wrong-password']) {
          const refused = await timed(gh, 'closed@outage.test', password, ip.next());
          assert.equal(refused.status, 503);
          assert.equal(refused.body.error, 'service_unavailable');
          assert.equal(refused.body.details?.retry_after, 1);
          assert.ok(refused.ms < 1000, `answered in ${Math.round(refused.ms)} ms`);
        }
      });
      assert.equal(hashes, 0, 'no password was checked while the counters cannot be reached');
      const granted = await grant();
      assert.equal(granted.statusCode, 503);
      assert.equal(granted.json().error, 'temporarily_unavailable');
      assert.equal(granted.headers['retry-after'], '1');
      assert.equal(granted.json().access_token, undefined);
      assert.equal(await gh.rowCount('attempt_accounts'), rowsBefore, 'fail-closed counts nothing in PostgreSQL');
      assert.equal(warningsOf(gh, 'Redis (brute-force counters) failed'), 1);

      await redis.start();
      const deadline = performance.now() + 10_000;
      let status = 0;
      while (status !== 200 && performance.now() < deadline) {
        status = (await attempt(gh, 'closed@outage.test', PASSWORD, ip.next())).status;
        if (status !== 200) await sleep(250);
      }
      assert.equal(status, 200, 'sign-ins again once Redis is back');
      assert.equal((await grant()).statusCode, 200);
    });
  });
});
