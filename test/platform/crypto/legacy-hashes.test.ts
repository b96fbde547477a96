import assert from 'node:assert/strict';
import { pbkdf2Sync, randomBytes, scryptSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { classifyHash, parseHash, verifyLegacyHash } from '../../../src/platform/crypto/legacy-hashes.js';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { AT_THE_BOUNDS, ab64, FIREBASE, firebaseString, hashesOf, TOO_EXPENSIVE } from '../../helpers/legacy-hashes.js';

const WRONG = 'not-the-password';

describe('legacy password hashes', () => {
  it('each format verifies with the right password and not with a wrong one', async () => {
    for (const [name, hash] of Object.entries(await hashesOf(PASSWORD))) {
      assert.ok(parseHash(hash), `${name} parses`);
      if (name.startsWith('argon2')) continue; // verified by the argon2 pool: proven through sign-in below
      assert.equal(await verifyLegacyHash(hash, PASSWORD), true, `${name} right`);
      assert.equal(await verifyLegacyHash(hash, WRONG), false, `${name} wrong`);
    }
  });

  it('Firebase scrypt: the published example of firebase/scrypt verifies', async () => {
    assert.equal(await verifyLegacyHash(firebaseString, FIREBASE.password), true);
    assert.equal(await verifyLegacyHash(firebaseString, 'user2password'), false);
  });

  it('unknown or out-of-bounds formats do not parse', () => {
    for (const hash of [
      'md5$abc',
      '$1$salt$hash',
      'plaintext',
      '$pbkdf2-sha256$99999999$c2FsdA$aGFzaA',
      '$scrypt$ln=30,r=8,p=1$c2FsdA$aGFzaA',
      `$2b$31$${'a'.repeat(53)}`,
    ]) {
      assert.equal(parseHash(hash), undefined, hash);
    }
  });
});

describe('work bounds of imported hashes', () => {
  it('a hash beyond a bound is too expensive (not unknown); one at the bound is accepted', () => {
    for (const [name, hash] of Object.entries(TOO_EXPENSIVE)) {
      assert.equal(classifyHash(hash), 'too_expensive', name);
      assert.equal(parseHash(hash), undefined, name);
    }
    for (const [name, hash] of Object.entries(AT_THE_BOUNDS)) assert.equal(classifyHash(hash), 'ok', name);
    assert.equal(classifyHash('md5$abc'), 'unknown');
  });

  it('a stored hash beyond the bounds verifies as false without the work, even with the right password', async () => {
    const salt = randomBytes(16);
    const longKey = `$pbkdf2-sha256$1000$${ab64(salt)}$${ab64(pbkdf2Sync(PASSWORD, salt, 1000, 65, 'sha256'))}`;
    assert.equal(classifyHash(longKey), 'too_expensive');
    assert.equal(await verifyLegacyHash(longKey, PASSWORD), false);
    const wide = `$scrypt$ln=4,r=1,p=17$${ab64(salt)}$${ab64(scryptSync(PASSWORD, salt, 32, { N: 16, r: 1, p: 17 }))}`;
    assert.equal(await verifyLegacyHash(wide, PASSWORD), false);
    const started = Date.now();
    assert.equal(await verifyLegacyHash(TOO_EXPENSIVE['pbkdf2 rounds'], PASSWORD), false);
    assert.equal(await verifyLegacyHash(TOO_EXPENSIVE['bcrypt cost'], PASSWORD), false);
    assert.ok(Date.now() - started < 1000, 'no work done');
  });
});
