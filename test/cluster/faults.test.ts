/**
 * Issue 18, part 3: faults under load on three nodes behind HAProxy, each with the counts
 * before and after. The cluster's PostgreSQL and Redis are the test's own (they are stopped
 * here); RabbitMQ is the machine's, reached through a proxy the test cuts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/oidc.js';
import { type Cluster, PASSWORD, RABBITMQ_URL, startCluster, tail } from './cluster.js';
import { failed, type Load, type LoadFixture, REQUEST_TIMEOUT_MS, startLoad, tally } from './load.js';
import { type EventSink, rabbitSink, webhookSink } from './sinks.js';

const AUDIENCE = 'https://faults.cluster.test';
const BROKER_DOWN_MS = Number(process.env.CLUSTER_BROKER_DOWN_SECONDS ?? 60) * 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ROOT = new URL('../../', import.meta.url).pathname;

describe('three nodes behind HAProxy under faults', { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let fixture: LoadFixture;
  let rabbit: EventSink & { close(): Promise<void> };
  let hooks: Awaited<ReturnType<typeof webhookSink>>;

  const call = async (method: string, path: string, body?: unknown, token?: string) =>
    cluster.request(path, {
      method,
      headers: { ...(body !== undefined && { 'content-type': 'application/json' }), ...(token && { authorization: `Bearer ${token}` }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  const created = async (path: string, body: unknown, token = fixture.admin) => {
    const answer = await call('POST', path, body, token);
    assert.equal(answer.status, 201, `${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  const report = (name: string, facts: Record<string, unknown>) => console.log(`[${name}] ${JSON.stringify(facts)}`);

  before(async () => {
    cluster = await startCluster();
    const admin = await cluster.adminToken();
    fixture = { admin, tenant: '', audience: AUDIENCE, password: PASSWORD, signers: [] } as unknown as LoadFixture;
    fixture.tenant = (await created('/api/v1/tenants', { slug: 'load', name: 'Load' })).id;
    const api = await created('/api/v1/apis', {
      identifier: AUDIENCE,
      name: 'Faults',
      tenant: fixture.tenant,
      permissions: [{ value: 'read:x' }],
    });
    const machine = await created('/api/v1/applications', { name: 'Worker', type: 'm2m', tenant: fixture.tenant });
    await created(`/api/v1/applications/${machine.id}/grants`, { api_id: api.id, permissions: ['read:x'] });
    fixture.machine = { client_id: machine.client_id, client_secret: machine.client_secret };
    const rotator = await created('/api/v1/applications', {
      name: 'Rotator',
      type: 'web',
      tenant: fixture.tenant,
      grant_types: ['password', 'refresh_token'],
    });
    fixture.rotator = { client_id: rotator.client_id, client_secret: rotator.client_secret };
    for (let i = 0; i < 6; i++) {
      const email = `signer${i}@load.cluster.test`;
      await created('/api/v1/users', { email, password: PASSWORD, tenant: fixture.tenant });
      fixture.signers.push(email);
    }
    rabbit = await rabbitSink(RABBITMQ_URL, () => fixture.tenant);
    hooks = await webhookSink(() => fixture.tenant);
    await created('/api/v1/webhooks', { url: hooks.receiver.url, events: ['iam.user.created'] });
  });
  after(async () => {
    await rabbit?.close();
    await hooks?.receiver.stop();
    await cluster?.stop();
  });

  /** The audit ids of the iam.user.created events of these users. */
  const userEvents = async (users: string[]) =>
    (
      await cluster.sql<{ id: string }>(`select id from audit_events where action = 'iam.user.created' and target_id = any($1)`, [users])
    ).map((r) => r.id);

  /** Every write the load saw acknowledged is there: users, their audit events, token events, sessions, refresh tokens. */
  async function acknowledgedWritesKept(load: Load) {
    const users = await cluster.sql(`select id from users where id = any($1)`, [load.users]);
    assert.equal(users.length, load.users.length, 'every user answered 201 exists');
    const userAudit = await userEvents(load.users);
    assert.equal(userAudit.length, load.users.length, 'every user answered 201 has its iam.user.created event');
    const tokenAudit = await cluster.sql(
      `select distinct details->>'jti' as jti from audit_events where action = 'iam.token.created' and details->>'jti' = any($1)`,
      [load.tokenIds],
    );
    assert.equal(tokenAudit.length, load.tokenIds.length, 'every token answered 200 has its iam.token.created event');
    let sessionsLost = 0;
    for (let i = 0; i < load.sessions.length; i += 8) {
      const answers = await Promise.all(load.sessions.slice(i, i + 8).map((token) => call('GET', '/api/v1/session', undefined, token)));
      sessionsLost += answers.filter((a) => a.status !== 200).length;
    }
    assert.equal(sessionsLost, 0, `${sessionsLost} of ${load.sessions.length} acknowledged sessions do not work`);
    const chains = load.refreshTokens.filter((t): t is string => t !== undefined);
    for (const token of chains) {
      const rotated = await cluster.request('/oauth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, ...fixture.rotator }).toString(),
      });
      assert.equal(rotated.status, 200, `an acknowledged refresh token rotates: ${JSON.stringify(rotated.body)}`);
    }
    return { users: users.length, tokens: tokenAudit.length, sessions: load.sessions.length, refreshChains: chains.length };
  }

  /** Every event of these users reaches RabbitMQ and the webhook; the copies beyond one (the consumers drop them by id). */
  async function deliveredOnce(users: string[], timeoutMs: number) {
    const ids = await userEvents(users);
    await rabbit.waitFor(ids, timeoutMs);
    await hooks.waitFor(ids, timeoutMs);
    const duplicates = (sink: EventSink) => ids.reduce((n, id) => n + (sink.copies.get(id) ?? 0) - 1, 0);
    return { events: ids.length, rabbitDuplicates: duplicates(rabbit), webhookDuplicates: duplicates(hooks) };
  }

  it('kill -9 of one node under load: only its requests in flight fail; no acknowledged write is lost; events delivered once after its restart', async () => {
    const load = startLoad(cluster, fixture);
    await sleep(4000);
    const inFlight = load.inFlight();
    const before = load.outcomes.length;
    const killedAt = Date.now();
    assert.equal(await cluster.signal(2, 'SIGKILL'), 'SIGKILL');
    // Until the exit is seen, the process may still hold requests (its sockets close with it).
    const exitedAt = Date.now();
    await sleep(4000);
    // The load stops before the restart: on two shared cores a node starting under load takes a minute.
    await load.stop();
    const restartAt = Date.now();
    await cluster.startNode(2);
    await cluster.inRotation();
    const restartMs = Date.now() - restartAt;
    const failures = failed(load.outcomes);
    report('kill -9', {
      requests: load.outcomes.length,
      beforeKill: before,
      inFlightAtKill: inFlight,
      statuses: tally(load.outcomes),
      exitSeenAfterMs: exitedAt - killedAt,
      failures: failures.map((f) => `${f.op}:${f.status}${f.error ? `(${f.error})` : ''}@${f.at - killedAt}ms`),
    });
    assert.ok(load.outcomes.length - before > 20, 'the load went on after the kill');
    assert.ok(
      failures.every((f) => f.at <= exitedAt),
      'only requests sent before the node was gone failed (the balancer retries refused connections elsewhere)',
    );
    assert.ok(failures.length <= inFlight, `${failures.length} failures, ${inFlight} requests were in flight on all nodes`);
    let phase = Date.now();
    const kept = await acknowledgedWritesKept(load);
    const checkMs = Date.now() - phase;
    phase = Date.now();
    const delivered = await deliveredOnce(load.users, 90_000);
    report('kill -9 after', { ...kept, ...delivered, restartMs, checkMs, deliveryWaitMs: Date.now() - phase });
  });

  it('SIGTERM to one node under load: it drains and exits, and at most a handful of requests fail through HAProxy', async () => {
    const load = startLoad(cluster, fixture);
    await sleep(3000);
    const started = Date.now();
    const code = await cluster.signal(1, 'SIGTERM');
    const stoppedMs = Date.now() - started;
    await sleep(2000);
    await load.stop();
    const restartAt = Date.now();
    await cluster.startNode(1);
    await cluster.inRotation();
    const restartMs = Date.now() - restartAt;
    const failures = failed(load.outcomes);
    report('SIGTERM', { exit: code, stoppedMs, restartMs, requests: load.outcomes.length, statuses: tally(load.outcomes) });
    assert.equal(code, '0', 'a clean exit');
    assert.ok(stoppedMs < 15_000, `stopped within the 10 s drain (took ${stoppedMs} ms)`);
    assert.ok(failures.length <= 2, `${failures.length} requests failed: ${failures.map((f) => `${f.op}:${f.status}`)}`);
    await acknowledgedWritesKept(load);
  });

  /**
   * The broker outage runs for a minute while the wrong-master-key and Redis tests run (they
   * use neither RabbitMQ nor the users made here): this test cuts the proxy and starts making
   * users in the background, "RabbitMQ back" waits for the minute to pass and checks.
   */
  let outage: Promise<{ users: string[]; cutAt: number }> | undefined;

  it(`RabbitMQ unreachable for ${BROKER_DOWN_MS / 1000} s, part 1: the nodes lose the broker while users are created`, async () => {
    await cluster.amqp.cut();
    const cutAt = Date.now();
    const making = (async () => {
      const users: string[] = [];
      while (Date.now() - cutAt < BROKER_DOWN_MS) {
        const user = await created('/api/v1/users', {
          email: `broker-${users.length}@load.cluster.test`,
          password: PASSWORD,
          tenant: fixture.tenant,
        });
        users.push(user.id);
        await sleep(250);
      }
      return { users, cutAt };
    })();
    making.catch(() => {}); // awaited (and reported) by part 2
    outage = making;
  });

  it('a node started with the wrong master key fails to start with a message naming the fix, and is never ready', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'start'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ...cluster.env,
        GATEHOUSE_PORT: String(port),
        GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
        GATEHOUSE_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = once(child, 'exit');
    let ready = 0;
    let exit: unknown[] | undefined;
    exited.then((value) => {
      exit = value;
    });
    const deadline = Date.now() + 20_000;
    while (!exit && Date.now() < deadline) {
      const answer = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
      if (answer?.status === 200) ready++;
      await sleep(100);
    }
    if (!exit) child.kill('SIGKILL');
    report('wrong master key', { exit, ready, output: output.slice(-600) });
    assert.equal(ready, 0, '/readyz never answered 200');
    assert.ok(exit, 'the start failed (the process exited) within 20 s');
    assert.notEqual(exit[0], 0, 'with a failure code');
    assert.match(output, /GATEHOUSE_MASTER_KEY/, 'the message names the setting to fix');
  });

  it('Redis down: sign-ins fall back to the PostgreSQL counters or answer 503, never 500 and never unprotected', async () => {
    const email = 'redis-down@load.cluster.test';
    await created('/api/v1/users', { email, password: PASSWORD, tenant: fixture.tenant });
    const signIn = (password: string) => {
      const at = Date.now();
      return call('POST', '/api/v1/session', { username: email, password }).then((a) => ({ ...a, ms: Date.now() - at }));
    };
    assert.equal((await signIn(PASSWORD)).status, 200);
    await cluster.redis.stop();
    try {
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push(await signIn(`wrong-password-${i}`));
      const right = await signIn(PASSWORD);
      answers.push(right);
      report('Redis down', { answers: answers.map((a) => `${a.status}/${a.node}/${a.ms}ms/${a.headers.get('retry-after') ?? '-'}`) });
      for (const answer of answers) {
        assert.ok([401, 429, 503].includes(answer.status) || answer === right, `${answer.status} ${JSON.stringify(answer.body)}`);
        assert.ok(answer.ms < REQUEST_TIMEOUT_MS, `answered within the request timeout (${answer.ms} ms)`);
        if (answer.status === 503) assert.ok(answer.headers.get('retry-after'), '503 with Retry-After');
      }
      assert.ok([429, 503].includes(right.status), `after six failures the right password is refused (locked) or 503, got ${right.status}`);
    } finally {
      await cluster.redis.start();
    }
    const fresh = 'redis-back@load.cluster.test';
    await created('/api/v1/users', { email: fresh, password: PASSWORD, tenant: fixture.tenant });
    let back = 0;
    for (let i = 0; i < 50 && back !== 200; i++) {
      back = (await call('POST', '/api/v1/session', { username: fresh, password: PASSWORD })).status;
      if (back !== 200) await sleep(200);
    }
    assert.equal(back, 200, 'sign-ins work again once Redis is back');
  });

  it(`RabbitMQ unreachable for ${BROKER_DOWN_MS / 1000} s, part 2: events waited in the outbox, webhooks went on, and RabbitMQ gets them all, in order, afterwards`, async () => {
    assert.ok(outage, 'part 1 cut the broker');
    let users: string[] = [];
    try {
      users = (await outage).users;
      const ids = await userEvents(users);
      await hooks.waitFor(ids, 30_000);
      const pending = await cluster.sql<{ count: string }>(
        `select count(*) from event_deliveries where sink = 'amqp' and status <> 'delivered' and event_id = any($1)`,
        [ids],
      );
      const reached = ids.filter((id) => rabbit.copies.has(id)).length;
      report('RabbitMQ down', { users: users.length, pendingForRabbit: pending[0]?.count, reachedRabbit: reached });
      assert.ok(users.length > 20, 'users were created while the broker was unreachable');
      assert.equal(reached, 0, 'nothing reached RabbitMQ while it was unreachable');
    } finally {
      await cluster.amqp.restore();
    }
    const restoredAt = Date.now();
    const ids = await userEvents(users);
    await rabbit.waitFor(ids, 120_000);
    const order = await cluster.sql<{ event_id: string }>(
      `select event_id from event_deliveries where sink = 'amqp' and event_id = any($1) order by seq`,
      [ids],
    );
    const arrived = rabbit.order.filter((id) => ids.includes(id));
    report('RabbitMQ back', { drainedMs: Date.now() - restoredAt, events: ids.length });
    assert.deepEqual(
      arrived,
      order.map((r) => r.event_id),
      'delivered in the order of the outbox',
    );
  });

  it('PostgreSQL restarts mid-load: /readyz unready then ready, 503 with Retry-After meanwhile (never a 500 or a hang), nodes recover without a restart', async () => {
    const pids = cluster.nodes.map((n) => n.child?.pid);
    const load = startLoad(cluster, fixture);
    const readiness: Record<string, number[]> = {};
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const node of cluster.nodes) {
          const status = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
            (r) => r.status,
            () => 0,
          );
          const seen = readiness[node.name] ?? [];
          if (seen.at(-1) !== status) seen.push(status);
          readiness[node.name] = seen;
        }
        await sleep(200);
      }
    })();
    await sleep(3000);
    const downAt = Date.now();
    cluster.pg.stop();
    await sleep(5000);
    cluster.pg.start();
    const upAt = Date.now();
    // Every node ready again, on its own (a node that exited fails this at once).
    const recovered = await cluster.inRotation(30_000).then(
      () => true,
      (error: Error) => error.message,
    );
    const recoveredMs = Date.now() - upAt;
    await sleep(3000);
    await load.stop();
    watching = false;
    await watch;
    const during = load.outcomes.filter((o) => o.at >= downAt && o.at <= upAt);
    const bad = load.outcomes.filter(
      (o) => o.status === 500 || o.status === 'timeout' || o.status === 'error' || o.ms >= REQUEST_TIMEOUT_MS,
    );
    const noRetryAfter = load.outcomes.filter((o) => o.status === 503 && !o.retryAfter);
    report('PostgreSQL restart', {
      requests: load.outcomes.length,
      statuses: tally(load.outcomes),
      duringOutage: tally(during),
      readiness,
      recovered,
      recoveredMs,
      bad: bad.slice(0, 10).map((o) => `${o.op}:${o.status}:${o.ms}ms`),
      exited: cluster.nodes.map((n) => n.child?.exitCode ?? n.child?.signalCode ?? null),
    });
    assert.deepEqual(
      cluster.nodes.map((n) => n.child?.pid),
      pids,
      'the same processes',
    );
    assert.ok(
      cluster.nodes.every((n) => n.child?.exitCode === null && n.child?.signalCode === null),
      `no node exited: ${cluster.nodes.map((n) => `${n.name}\n${tail(n.log, 5)}`).join('\n')}`,
    );
    assert.equal(recovered, true, 'every node back in rotation within 30 s of the database');
    for (const node of cluster.nodes) {
      const seen = readiness[node.name] ?? [];
      assert.ok(seen.includes(503) && seen.at(-1) === 200, `${node.name} /readyz went ${seen.join(' → ')}`);
    }
    assert.equal(bad.length, 0, `${bad.length} answers were 500, failed or hung`);
    assert.equal(noRetryAfter.length, 0, `${noRetryAfter.length} 503s without Retry-After`);
    assert.ok(load.outcomes.filter((o) => o.at > upAt + recoveredMs && o.status === 200).length > 0, 'answers 200 again');
    await acknowledgedWritesKept(load);
  });

  it('the nodes logged no unhandled error', () => {
    for (const node of cluster.nodes) {
      const log = readFileSync(node.log, 'utf8');
      assert.doesNotMatch(log, /Unhandled 'error' event|uncaughtException|unhandledRejection/, `${node.name}: ${tail(node.log, 10)}`);
    }
  });
});
