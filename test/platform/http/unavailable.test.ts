// A dependency that fails answers 503 with Retry-After, never a 500 (decision 301): the API,
// the hosted pages, the OAuth endpoints (also when the engine's keys cannot be read before
// the request is handed to the engine); /readyz with keys this node cannot open (decision 303).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { hostedPageScope } from '../../../src/flows/kit/hosted-pages.js';
import type { Oidc } from '../../../src/oauth/engine/index.js';
import { oidcRoutes } from '../../../src/oauth/engine/routes.js';
import { SEAL_CONTEXT } from '../../../src/oauth/keys/signing-keys.js';
import { parseConfig } from '../../../src/platform/config.js';
import type { AppContext } from '../../../src/platform/context.js';
import { seal } from '../../../src/platform/crypto/secrets.js';
import { dependencyFailure } from '../../../src/platform/dependency-failure.js';
import { type App, createHttpServer } from '../../../src/platform/http/server.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

/** Errors as node-postgres and Node hand them over when the database restarts or is gone. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: 'FATAL' });
const FAILURES: Array<[string, () => Error]> = [
  ['57P01 admin shutdown', () => pgError('57P01', 'terminating connection due to administrator command')],
  ['57P03 starting up', () => pgError('57P03', 'the database system is starting up')],
  ['08006 connection failure', () => pgError('08006', 'connection failure')],
  ['ECONNREFUSED', () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
  [
    'ECONNREFUSED on every address',
    () => new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:5432'), { code: 'ECONNREFUSED' })], 'connect failed'),
  ],
  ['ECONNRESET', () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
  ['connection terminated', () => new Error('Connection terminated unexpectedly')],
  ['pool timeout', () => new Error('timeout exceeded when trying to connect')],
  ['statement timeout', () => pgError('57014', 'canceling statement due to statement timeout')],
];

describe('dependency failures', () => {
  it('are told apart from the errors of a request or of our code', () => {
    for (const [name, make] of FAILURES) assert.ok(dependencyFailure(make()), name);
    for (const error of [
      new Error('boom'),
      pgError('23505', 'duplicate key value violates unique constraint'),
      pgError('42P01', 'relation "x" does not exist'),
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      undefined,
      'a string',
    ]) {
      assert.equal(dependencyFailure(error), undefined, String((error as Error)?.message ?? error));
    }
    assert.equal(dependencyFailure(new Error('wrapped', { cause: pgError('57P01', 'terminating') })), 'The database');
  });

  describe('answers', () => {
    let app: App;
    let failure: () => Error = FAILURES[0]![1];
    const config = parseConfig({ issuer: 'http://gatehouse.test' }, false);

    before(async () => {
      const ctx = { config, log: pino({ level: 'silent' }), masterKey: randomBytes(32) } as unknown as AppContext;
      app = await createHttpServer(ctx);
      app.get('/api/v1/thing', async () => {
        throw failure();
      });
      // The engine whose keys cannot be read: before the fix the response was hijacked first and never answered.
      const oidc = {
        handler: async () => {
          throw failure();
        },
      } as unknown as Oidc;
      await app.register(oidcRoutes(ctx, oidc));
      await app.register(async (pages) => {
        hostedPageScope(pages, ctx);
        pages.get('/login/page', async () => {
          throw failure();
        });
      });
      await app.ready();
    });
    after(() => app.close());

    for (const [name, make] of FAILURES) {
      it(`${name}: the API answers 503 service_unavailable with Retry-After`, async () => {
        failure = make;
        const response = await app.inject({ method: 'GET', url: '/api/v1/thing' });
        assert.equal(response.statusCode, 503);
        assert.equal(response.headers['retry-after'], '1');
        assert.equal(response.json().error, 'service_unavailable');
        assert.doesNotMatch(response.body, /5432|ECONN|administrator/, 'no internal detail');
      });
    }

    it('the OAuth endpoints answer 503 temporarily_unavailable with Retry-After, not a hang', async () => {
      failure = FAILURES[3]![1];
      for (const request of [
        { method: 'GET' as const, url: '/.well-known/openid-configuration' },
        {
          method: 'POST' as const,
          url: '/oauth/token',
          payload: 'grant_type=client_credentials',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
      ]) {
        const response = await app.inject(request);
        assert.equal(response.statusCode, 503, request.url);
        assert.equal(response.headers['retry-after'], '1');
        assert.equal(response.json().error, 'temporarily_unavailable');
      }
    });

    it('a hosted page answers a 503 "try again" page with Retry-After', async () => {
      failure = FAILURES[0]![1];
      const response = await app.inject({ method: 'GET', url: '/login/page', headers: { accept: 'text/html', 'accept-language': 'de' } });
      assert.equal(response.statusCode, 503);
      assert.equal(response.headers['retry-after'], '1');
      assert.match(String(response.headers['content-type']), /text\/html/);
      assert.match(response.body, /Vorübergehend nicht verfügbar/);
      assert.match(response.body, /service_unavailable/);
    });
  });
});

describe('/readyz with signing keys this node cannot open', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.stop());

  it('is ready with its keys, and 503 keys_unreadable once they are sealed under another master key', async () => {
    assert.equal((await gh.request('GET', '/readyz')).status, 200);
    const other = randomBytes(32);
    const rows = await gh.ctx.db.selectFrom('signing_keys').select(['kid']).execute();
    for (const { kid } of rows) {
      await gh.ctx.db
        .updateTable('signing_keys')
        .set({ private_jwk_sealed: seal(other, '{}', `${SEAL_CONTEXT}:${kid}`) })
        .where('kid', '=', kid)
        .execute();
    }
    gh.ctx.keys.invalidate();
    const ready = await gh.request('GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'keys_unreadable');
    // The engine's endpoints answer (a 500: a misconfigured node), they do not hang.
    const discovery = await gh.request('GET', '/.well-known/openid-configuration');
    assert.equal(discovery.status, 500);
  });
});
