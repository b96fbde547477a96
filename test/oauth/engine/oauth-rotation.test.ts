/**
 * Refresh-token rotation in one statement (decision 320): the engine's consume is held until
 * the successor is stored, and one statement consumes the old token and stores the new one
 * only if the old one was not consumed yet. Two requests that both read the token before
 * either rotates it (the race HTTP cannot stage on demand) are replayed here step by step
 * on the adapter: exactly one stores a successor, the other revokes the whole family.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { errors } from 'oidc-provider';
import { consumeHeld, pgAdapter } from '../../../src/oauth/engine/adapter.js';
import type { Lookups } from '../../../src/oauth/engine/lookups.js';
import type { Db } from '../../../src/platform/db/database.js';
import { uuidv7 } from '../../../src/platform/ids.js';
import { freshDatabase } from '../../helpers/database.js';

describe('refresh-token rotation in one statement', () => {
  let db: Db;
  let drop: () => Promise<void>;
  const masterKey = randomBytes(32);
  let request: object | undefined;
  const Adapter = () =>
    pgAdapter(
      db,
      {} as Lookups,
      () => new Date(),
      masterKey,
      () => request,
    );
  const userId = uuidv7.next();

  before(async () => {
    ({ db, drop } = await freshDatabase());
    const now = new Date();
    await db
      .insertInto('users')
      .values({
        id: userId,
        email: 'r@acme.test',
        status: 'active',
        user_metadata: '{}',
        app_metadata: '{}',
        created_at: now,
        updated_at: now,
      })
      .execute();
  });
  after(() => drop());

  /** A grant and its first refresh token, stored outside any request. */
  async function family(): Promise<{ grantId: string; token: string }> {
    request = undefined;
    const Model = Adapter();
    const grantId = `grant-${randomBytes(6).toString('hex')}`;
    await new Model('Grant').upsert(grantId, { jti: grantId, accountId: userId, clientId: 'app' }, 3600);
    const token = randomBytes(16).toString('base64url');
    await new Model('RefreshToken').upsert(token, { jti: token, accountId: userId, clientId: 'app', grantId, kind: 'RefreshToken' }, 3600);
    return { grantId, token };
  }

  /** One request's rotation, as the engine runs it: find, consume, store the successor. */
  function rotation(token: string, grantId: string) {
    const own = {};
    const Model = Adapter();
    const successor = randomBytes(16).toString('base64url');
    return {
      async find() {
        request = own;
        return new Model('RefreshToken').find(token);
      },
      async rotate() {
        request = own;
        await new Model('RefreshToken').consume(token);
        request = own;
        await new Model('RefreshToken').upsert(successor, { jti: successor, accountId: userId, clientId: 'app', grantId }, 3600);
        return successor;
      },
    };
  }

  const rowsOf = async (grantId: string) =>
    (
      await db
        .selectFrom('oidc_models')
        .select('model')
        .where((eb) => eb.or([eb('grant_id', '=', grantId), eb('id', '=', grantId)]))
        .execute()
    ).length;

  it('finds the token with its grant and user in one read, and rotates it', async () => {
    const { grantId, token } = await family();
    const one = rotation(token, grantId);
    const found = await one.find();
    assert.equal(found?.grantId, grantId);
    assert.equal(found?.consumed, undefined);
    const successor = await one.rotate();
    request = undefined;
    const Model = Adapter();
    assert.ok((await new Model('RefreshToken').find(token))?.consumed, 'the old token is consumed');
    assert.equal((await new Model('RefreshToken').find(successor))?.consumed, undefined, 'its successor is not');
  });

  it('of two requests that both read the token before rotating it, one rotates and the other revokes the family', async () => {
    const { grantId, token } = await family();
    const first = rotation(token, grantId);
    const second = rotation(token, grantId);
    assert.ok(await first.find());
    assert.ok(await second.find());
    await first.rotate();
    await assert.rejects(second.rotate(), errors.InvalidGrant);
    assert.equal(await rowsOf(grantId), 0, 'the grant and every token of it are gone, the winner’s successor too');
  });

  it('a consume the request did not store a successor for is done when the request ends', async () => {
    const { grantId, token } = await family();
    const own = {};
    request = own;
    await new (Adapter())('RefreshToken').consume(token);
    request = undefined;
    assert.equal((await new (Adapter())('RefreshToken').find(token))?.consumed, undefined, 'held until the request ends');
    await consumeHeld(db, new Date(), own);
    assert.ok((await new (Adapter())('RefreshToken').find(token))?.consumed);
    // Held again for a token already used: the family is revoked.
    const again = {};
    request = again;
    await new (Adapter())('RefreshToken').consume(token);
    await assert.rejects(consumeHeld(db, new Date(), again), errors.InvalidGrant);
    assert.equal(await rowsOf(grantId), 0);
  });
});
