import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hash as argon2Hash } from '@node-rs/argon2';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import {
  ARGON2_PARAMS,
  createPasswordHasher,
  DUMMY_HASH,
  needsRehash,
  type PasswordHasher,
} from '../../../src/platform/crypto/passwords.js';
import type { AppError } from '../../../src/platform/errors.js';

describe('password hashing pool', () => {
  let hasher: PasswordHasher;
  before(async () => {
    hasher = await createPasswordHasher(2);
  });
  after(() => hasher.close());

  it('hashes with argon2id m=19456, t=2, p=1 and verifies the right password only', async () => {
    const hash = await hasher.hash('correct horse battery staple');
    assert.match(hash, new RegExp(`^\\$argon2id\\$v=19\\$m=${ARGON2_PARAMS.memoryCost},t=2,p=1\\$`));
    assert.equal(await hasher.verify(hash, 'correct horse battery staple'), true);
    assert.equal(await hasher.verify(hash, 'wrong'), false);
  });

  it('verifies an unknown user against a dummy of the current parameters, as costly as a real hash', async () => {
    assert.equal(needsRehash(DUMMY_HASH), false, 'DUMMY_HASH must be made again with the current ARGON2_PARAMS');
    const real = await hasher.hash('some password');
    const time = async (task: () => Promise<boolean>) => {
      const started = performance.now();
      for (let i = 0; i < 4; i++) await task();
      return performance.now() - started;
    };
    const unknown = await time(() => hasher.verify(null, 'some password'));
    const known = await time(() => hasher.verify(real, 'wrong password'));
    assert.ok(unknown > known / 3 && unknown < known * 3, `unknown ${unknown.toFixed(0)} ms vs known ${known.toFixed(0)} ms`);
  });

  it('answers false for a missing hash (after verifying against the dummy) and for a malformed one', async () => {
    assert.equal(await hasher.verify(null, 'anything'), false);
    assert.equal(await hasher.verify(undefined, 'anything'), false);
    assert.equal(await hasher.verify('not-a-hash', 'anything'), false);
  });

  it('runs many verifications concurrently and answers each one correctly', async () => {
    const hash = await hasher.hash('p1-password');
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => hasher.verify(hash, i % 2 ? 'p1-password' : 'nope')));
    assert.deepEqual(
      results,
      Array.from({ length: 12 }, (_, i) => i % 2 === 1),
    );
  });

  it('refuses a burst beyond its queue with 503 server_busy instead of queueing without bound', async () => {
    const small = await createPasswordHasher(1);
    try {
      const hash = await small.hash('burst-password');
      const outcomes = await Promise.allSettled(Array.from({ length: 80 }, () => small.verify(hash, 'burst-password')));
      const refused = outcomes.filter((o) => o.status === 'rejected');
      assert.ok(refused.length > 0, 'some were refused');
      for (const o of refused) assert.equal(((o as PromiseRejectedResult).reason as AppError).code, 'server_busy');
      assert.ok(
        outcomes.some((o) => o.status === 'fulfilled' && o.value === true),
        'the rest were verified',
      );
    } finally {
      await small.close();
    }
  });

  it('after close(), pending and new work fail instead of hanging', async () => {
    const closing = await createPasswordHasher(1);
    const inFlight = assert.rejects(closing.hash('closing-password'), /closed/);
    await closing.close();
    await inFlight;
    await assert.rejects(closing.verify(null, 'x'));
  });

  describe('imported hashes: timing and work bounds', () => {
    let observed: PasswordHasher;
    let tasks: { op: string; hash?: string | undefined }[] = [];
    before(async () => {
      observed = await createPasswordHasher(1, (task) => tasks.push(task));
    });
    after(() => observed.close());
    const verifies = () => tasks.filter((t) => t.op === 'verify');

    it('a legacy hash also costs the argon2 dummy verify (an unknown user’s cost), right password or wrong', async () => {
      const bcrypt = await bcryptHash('legacy-password', 4);
      for (const [password, expected] of [
        ['legacy-password', true],
        ['wrong', false],
      ] as const) {
        tasks = [];
        assert.equal(await observed.verify(bcrypt, password), expected);
        assert.equal(verifies().length, 1, 'one dummy verify on the pool');
        assert.notEqual(verifies()[0]!.hash, bcrypt);
      }
      tasks = [];
      assert.equal(await observed.verify('not-a-hash', 'x'), false);
      assert.equal(verifies().length, 1, 'an unknown format costs the dummy too');
      tasks = [];
      assert.equal(await observed.verify(null, 'x'), false);
      assert.equal(verifies().length, 1, 'as an unknown user does');
    });

    it('a foreign argon2 hash within the bounds is verified on the pool', async () => {
      const foreign = await argon2Hash('foreign-password', { algorithm: 1, memoryCost: 4096, timeCost: 3 });
      tasks = [];
      assert.equal(await observed.verify(foreign, 'foreign-password'), true);
      assert.deepEqual(verifies(), [{ op: 'verify', hash: foreign }]);
    });

    it('an argon2 hash beyond the bounds (m, t or p) verifies as false without reaching the pool; the dummy runs instead', async () => {
      const tail = '$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA';
      for (const params of ['m=1048576,t=2,p=1', 'm=19456,t=11,p=1', 'm=19456,t=2,p=9', 'm=262145,t=1,p=1']) {
        const hash = `$argon2id$v=19$${params}${tail}`;
        tasks = [];
        assert.equal(await observed.verify(hash, 'anything'), false, params);
        assert.equal(verifies().length, 1, params);
        assert.notEqual(verifies()[0]!.hash, hash, `${params}: the stored hash never goes to the pool`);
      }
    });
  });
});
