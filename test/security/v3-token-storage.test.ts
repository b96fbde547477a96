/**
 * ASVS V3 (session management), issue 12 item 8: a database reader (a leaked backup, a
 * read replica, an SQL injection elsewhere) finds no refresh token, authorization code,
 * opaque access token, device code or engine session cookie in `oidc_models`, and what the
 * rows do hold does not work as one. Existing rows are rehashed by migration 0020, and a
 * backup still restores into a Gatehouse where the tokens work.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import * as client from 'openid-client';
import { pgAdapter } from '../../src/oauth/engine/adapter.js';
import type { Lookups } from '../../src/oauth/engine/lookups.js';
import { backupStream } from '../../src/ops/backup/backup.js';
import { restoreBackup } from '../../src/ops/backup/restore.js';
import { SYSTEM_ACTOR } from '../../src/platform/audit/record.js';
import { up as migration0020 } from '../../src/platform/db/migrations/0020_oidc_hashed_ids.js';
import { systemClock, uuidv7 } from '../../src/platform/ids.js';
import { bytes, collect, node, PASSPHRASE, testConfig } from '../helpers/backup.js';
import { freshDatabase } from '../helpers/database.js';
import { PASSWORD, type TestGatehouse } from '../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../helpers/oidc.js';

const CALLBACK = 'http://localhost:4000/callback';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

describe('V3: the OAuth engine keeps no usable token in the database', () => {
  let gh: TestGatehouse & { issuer: string };
  let web: { client_id: string; client_secret: string };
  const email = 'reader@acme.test';
  let issued: { refresh: string; access: string; code: string; sessionCookie: string; deviceCode: string; userCode: string };

  const token = (fields: Record<string, string>) =>
    fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${web.client_id}:${web.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams(fields),
    });
  const refresh = (refreshToken: string) => token({ grant_type: 'refresh_token', refresh_token: refreshToken });
  const redeem = (code: string) => token({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK });
  const userinfo = (accessToken: string) => fetch(`${gh.issuer}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
  const rows = async () =>
    (
      await sql<{ model: string; id: string; text: string }>`
        select model, id, payload::text || ' ' || coalesce(user_code, '') || ' ' || coalesce(uid, '') as text from oidc_models`.execute(
        gh.ctx.db,
      )
    ).rows;

  before(async () => {
    gh = await startListeningGatehouse();
    const acme = await gh.tenantWithAdmin('acme');
    web = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'web',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token', 'password', DEVICE_CODE],
    });
    await gh.createUser(acme.token, { email, password: PASSWORD });

    // A refresh token and an opaque access token (no API named) from the password grant.
    const grant = await token({ grant_type: 'password', username: email, password: PASSWORD, scope: 'openid offline_access' });
    assert.equal(grant.status, 200, await grant.clone().text());
    const tokens = (await grant.json()) as { refresh_token: string; access_token: string };
    assert.equal(tokens.access_token.split('.').length, 1, 'an opaque access token');

    // An authorization code (not redeemed yet) and the engine's session cookie, from the hosted sign-in.
    const config = await client.discovery(new URL(gh.issuer), web.client_id, undefined, client.ClientSecretBasic(web.client_secret), {
      execute: [client.allowInsecureRequests],
    });
    const browser = new Browser();
    const isCallback = (location: string) => location.startsWith(CALLBACK);
    const url = client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid', state: 'st' });
    const opened = await browser.follow(url.href, isCallback);
    const form = formOf(await opened.response.text());
    const landed = await browser.submit(opened.url, form.action, { ...form.fields, username: email, password: PASSWORD }, isCallback);
    const code = new URL(landed.url).searchParams.get('code');
    assert.ok(code, `expected a code at the callback, got ${landed.url}`);
    const sessionCookie = (browser as unknown as { cookies: Map<string, string> }).cookies.get('_session');
    assert.ok(sessionCookie, 'the engine set its session cookie');

    // A device code and its user code.
    const device = await fetch(`${gh.issuer}/oauth/device/code`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: web.client_id, client_secret: web.client_secret, scope: 'openid' }),
    });
    assert.equal(device.status, 200, await device.clone().text());
    const started = (await device.json()) as { device_code: string; user_code: string };
    issued = {
      refresh: tokens.refresh_token,
      access: tokens.access_token,
      code,
      sessionCookie,
      deviceCode: started.device_code,
      userCode: started.user_code,
    };
  });
  after(() => gh.stop());

  it('no row holds a refresh token, code, opaque access token, device or user code, or session cookie, in its id or payload', async () => {
    const secrets = {
      ...issued,
      userCodeNormalized: issued.userCode.replace(/-/g, ''),
    };
    const all = await rows();
    for (const model of ['RefreshToken', 'AuthorizationCode', 'AccessToken', 'DeviceCode', 'Session']) {
      assert.ok(
        all.some((row) => row.model === model),
        `a ${model} row exists`,
      );
    }
    for (const row of all) {
      for (const [name, secret] of Object.entries(secrets)) {
        assert.ok(!row.id.includes(secret), `the id of a ${row.model} row is the ${name}`);
        assert.ok(!row.text.includes(secret), `a ${row.model} row's payload holds the ${name}`);
      }
    }
  });

  it('what the rows hold does not work as a token; the real ones still do', async () => {
    const ids = async (model: string) => (await rows()).filter((row) => row.model === model).map((row) => row.id);
    for (const id of await ids('RefreshToken')) {
      const response = await refresh(id);
      assert.equal(response.status, 400, 'a refresh token read from the database worked');
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_grant');
    }
    for (const id of await ids('AuthorizationCode')) {
      const response = await redeem(id);
      assert.equal(response.status, 400, 'an authorization code read from the database worked');
    }
    for (const id of await ids('AccessToken')) {
      assert.equal((await userinfo(id)).status, 401, 'an access token read from the database worked');
    }
    for (const id of await ids('DeviceCode')) {
      const response = await token({ grant_type: DEVICE_CODE, device_code: id });
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_grant', 'a device code read from the database was known');
    }

    assert.equal((await userinfo(issued.access)).status, 200);
    const pending = await token({ grant_type: DEVICE_CODE, device_code: issued.deviceCode });
    assert.equal(((await pending.json()) as { error: string }).error, 'authorization_pending');
    assert.equal((await redeem(issued.code)).status, 200);
    const rotated = await refresh(issued.refresh);
    assert.equal(rotated.status, 200);
    // Reuse detection still finds the row: the rotated-away token fails, and so does its successor.
    const next = ((await rotated.json()) as { refresh_token: string }).refresh_token;
    assert.equal((await refresh(issued.refresh)).status, 400);
    assert.equal((await refresh(next)).status, 400, 'the family was revoked');
    issued.refresh = next;
  });

  it('a backup restores into a Gatehouse where a refresh token works', async () => {
    const grant = await token({ grant_type: 'password', username: email, password: PASSWORD, scope: 'openid offline_access' });
    const { refresh_token } = (await grant.json()) as { refresh_token: string };
    const file = await collect(backupStream(gh.ctx, PASSPHRASE, { actor: SYSTEM_ACTOR }));
    const { db, drop } = await freshDatabase();
    const config = { ...testConfig({ masterKey: gh.ctx.masterKey }), issuer: gh.issuer };
    await restoreBackup(bytes(file), PASSPHRASE, { db, config, clock: systemClock, ids: uuidv7 }, { actor: SYSTEM_ACTOR });
    const restored = await node(config, db);
    try {
      const answer = await restored.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${web.client_id}:${web.client_secret}`).toString('base64')}`,
        },
        payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token }).toString(),
      });
      assert.equal(answer.statusCode, 200, answer.body);
    } finally {
      await restored.app.close();
      await restored.ctx.passwords.close();
      await drop();
    }
  });

  it('migration 0020 rehashes a refresh token stored in plaintext: it keeps working and is no longer readable', async () => {
    const grant = await token({ grant_type: 'password', username: email, password: PASSWORD, scope: 'openid offline_access' });
    const { refresh_token } = (await grant.json()) as { refresh_token: string };
    // The row as the code before 0020 wrote it: the token as the id, and as `jti`.
    const adapter = new (pgAdapter(gh.ctx.db, {} as Lookups, () => new Date(), gh.ctx.masterKey))('RefreshToken');
    const payload = await adapter.find(refresh_token);
    assert.ok(payload);
    const row = await gh.ctx.db
      .selectFrom('oidc_models')
      .selectAll()
      .where('model', '=', 'RefreshToken')
      .where(sql<string>`payload->>'grantId'`, '=', payload.grantId as string)
      .executeTakeFirstOrThrow();
    await gh.ctx.db.deleteFrom('oidc_models').where('model', '=', 'RefreshToken').where('id', '=', row.id).execute();
    await gh.ctx.db
      .insertInto('oidc_models')
      .values({ ...row, id: refresh_token, payload: JSON.stringify(payload) })
      .execute();

    await gh.ctx.db.transaction().execute(async (trx) => {
      for (const statement of migration0020) await sql.raw(statement).execute(trx);
    });
    const all = await rows();
    assert.ok(!all.some((r) => r.id.includes(refresh_token) || r.text.includes(refresh_token)), 'the token is still in plaintext');
    assert.equal((await refresh(refresh_token)).status, 200);
  });
});
