// PostgreSQL restarts under load (issue 18, part 3): the node survives, answers 503 with
// Retry-After during the outage (never a 500, never a hang), turns unready and ready again,
// and recovers without a restart. On a PostgreSQL server of the test's own.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from '../helpers/gatehouse.js';
import { type NodeProcess, spawnNode } from '../helpers/node-process.js';
import { type OwnPostgres, postgresBin, startOwnPostgres } from '../helpers/own-postgres.js';

/** No answer may take longer: the pool's connect timeout (5 s) plus room for a loaded machine. */
const REQUEST_BOUND_MS = 10_000;
const API = 'https://faults.api.test';

interface Answer {
  what: string;
  status: number | 'hang' | 'network';
  retryAfter: string | null;
  ms: number;
  body: string;
}

describe('a PostgreSQL restart under load', { skip: postgresBin() ? false : 'no PostgreSQL binaries' }, () => {
  let pg: OwnPostgres;
  let node: NodeProcess;
  let admin: string;
  let client: { id: string; secret: string };
  /** One account per load worker, as many people sign in at once (one account signing in six times at once may meet its own lockout). */
  const signers: string[] = [];

  const call = async (what: string, path: string, init: RequestInit = {}): Promise<Answer> => {
    const started = Date.now();
    try {
      const response = await fetch(`${node.base}${path}`, { ...init, signal: AbortSignal.timeout(REQUEST_BOUND_MS) });
      const body = await response.text();
      return { what, status: response.status, retryAfter: response.headers.get('retry-after'), ms: Date.now() - started, body };
    } catch (error) {
      const name = (error as Error).name;
      const status = name === 'TimeoutError' || name === 'AbortError' ? 'hang' : 'network';
      return { what, status, retryAfter: null, ms: Date.now() - started, body: String((error as Error).cause ?? error) };
    }
  };
  const json = (body: unknown, token?: string): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  const tokenRequest = (): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret, audience: API }),
  });

  /** Mixed load (machine tokens, discovery, user creation, sign-ins, an admin list) until stopped. */
  function load(answers: Answer[], run: string) {
    let running = true;
    let n = 0;
    const worker = async (w: number) => {
      while (running) {
        const i = n++;
        const kind = (i + w) % 5;
        if (kind === 0) answers.push(await call('token', '/oauth/token', tokenRequest()));
        else if (kind === 1) answers.push(await call('discovery', '/.well-known/openid-configuration'));
        else if (kind === 2)
          answers.push(await call('create user', '/api/v1/users', json({ email: `load-${run}-${i}@faults.test` }, admin)));
        else if (kind === 3)
          answers.push(await call('sign-in', '/api/v1/session', json({ username: signers[w], password: ADMIN_PASSWORD })));
        else answers.push(await call('list users', '/api/v1/users?limit=5', { headers: { authorization: `Bearer ${admin}` } }));
      }
    };
    const workers = Array.from({ length: signers.length }, (_, w) => worker(w));
    return async () => {
      running = false;
      await Promise.all(workers);
    };
  }

  /** Polls /readyz every 200 ms and keeps what it answered, in order. */
  function watchReadiness(seen: number[]) {
    let running = true;
    const loop = (async () => {
      while (running) {
        const answer = await call('readyz', '/readyz');
        assert.ok(answer.status !== 'hang', `/readyz hung for ${answer.ms} ms`);
        if (typeof answer.status === 'number' && seen.at(-1) !== answer.status) seen.push(answer.status);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    return async () => {
      running = false;
      await loop;
    };
  }

  before(async () => {
    pg = await startOwnPostgres();
    node = await spawnNode({
      GATEHOUSE_DATABASE_URL: pg.url,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
      GATEHOUSE_ADMIN_EMAIL: ADMIN_EMAIL,
      GATEHOUSE_ADMIN_PASSWORD: ADMIN_PASSWORD,
      GATEHOUSE_ISSUER: 'http://gatehouse.faults.test',
    });
    await node.ready();
    const session = JSON.parse((await call('session', '/api/v1/session', json({ username: ADMIN_EMAIL, password: ADMIN_PASSWORD }))).body);
    admin = JSON.parse((await call('token', '/api/v1/token', json({ organization: 'system' }, session.token))).body).token;
    const api = JSON.parse(
      (await call('api', '/api/v1/apis', json({ identifier: API, name: 'Faults', permissions: [{ value: 'read:x' }] }, admin))).body,
    );
    const app = JSON.parse((await call('app', '/api/v1/applications', json({ name: 'Load', type: 'm2m' }, admin))).body);
    const grant = await call('grant', `/api/v1/applications/${app.id}/grants`, json({ api_id: api.id, permissions: ['read:x'] }, admin));
    assert.equal(grant.status, 201, grant.body);
    client = { id: app.client_id, secret: app.client_secret };
    for (let w = 0; w < 6; w++) {
      const signer = await call('signer', '/api/v1/users', json({ email: `signer${w}@faults.test`, password: ADMIN_PASSWORD }, admin));
      assert.equal(signer.status, 201, signer.body);
      signers.push(`signer${w}@faults.test`);
    }
    assert.equal((await call('token', '/oauth/token', tokenRequest())).status, 200, 'a machine token before the fault');
  });

  after(async () => {
    node?.kill('SIGKILL');
    pg?.remove();
  });

  for (const mode of ['fast', 'immediate'] as const) {
    it(`${mode} stop, 3 s down, start: 503 + Retry-After meanwhile, unready then ready, no restart of the node`, async () => {
      const answers: Answer[] = [];
      const readiness: number[] = [];
      const stopLoad = load(answers, mode);
      const stopWatch = watchReadiness(readiness);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const beforeFault = answers.length;
      pg.stop(mode);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      pg.start();
      // Back to ready without any restart of the node.
      const until = Date.now() + 30_000;
      while (readiness.at(-1) !== 200 || !readiness.includes(503)) {
        assert.ok(Date.now() < until, `/readyz did not go 503 then 200: ${readiness.join(' → ')}\n${node.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await stopLoad();
      await stopWatch();

      assert.equal(node.child.exitCode, null, `the node is still running:\n${node.output()}`);
      assert.doesNotMatch(node.output(), /Unhandled 'error' event/);
      const summary = tally(answers);
      assert.ok(beforeFault > 0 && answers.length > beforeFault, `load ran through the fault: ${summary}`);
      const failed = answers.filter((a) => a.status === 500 || a.status === 'hang' || a.status === 'network' || a.ms > REQUEST_BOUND_MS);
      assert.deepEqual(
        failed.map((a) => `${a.what} ${a.status} ${a.ms} ms ${a.body.slice(0, 200)}`),
        [],
        `never a 500, a hang or a dropped connection (${summary})`,
      );
      const unavailable = answers.filter((a) => a.status === 503);
      assert.ok(unavailable.length > 0, `some requests met the outage: ${summary}`);
      for (const a of unavailable) {
        assert.equal(a.retryAfter, '1', `${a.what}: 503 with Retry-After (${a.body})`);
        const error = JSON.parse(a.body).error;
        assert.ok(error === 'service_unavailable' || error === 'temporarily_unavailable', `${a.what}: ${a.body}`);
      }
      const unexpected = answers.filter((a) => typeof a.status === 'number' && ![200, 201, 503].includes(a.status));
      assert.deepEqual(
        unexpected.map((a) => `${a.what} ${a.status} ${a.body.slice(0, 200)}`),
        [],
      );
      // Recovered: the same node serves again.
      assert.equal((await call('token', '/oauth/token', tokenRequest())).status, 200);
      assert.equal((await call('discovery', '/.well-known/openid-configuration')).status, 200);
      console.log(`# ${mode}: ${summary}; /readyz ${readiness.join(' → ')}`);
    });
  }
});

function tally(answers: Answer[]): string {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(`${a.status}`, (counts.get(`${a.status}`) ?? 0) + 1);
  const slowest = Math.max(...answers.map((a) => a.ms));
  return `${answers.length} requests: ${[...counts].map(([status, n]) => `${n}×${status}`).join(', ')}; slowest ${slowest} ms`;
}
