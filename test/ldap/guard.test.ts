import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'ldapts';
import { ldapStrategy } from '../../src/authn/federation/ldap.js';
import type { Connection } from '../../src/authn/federation/strategy.js';
import { AppError } from '../../src/platform/errors.js';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.js';
import { TestClock } from '../helpers/lockout-suite.js';
import { PEOPLE, SERVICE_DN, SERVICE_PASSWORD, type Slapd, SUFFIX, startSlapd } from '../helpers/slapd.js';
import { rejectsWith, searchConnection, templateConnection } from './connection.js';

/** The connections slapd accepted so far. */
const accepted = (slapd: Slapd) => slapd.log().match(/ ACCEPT from /g)?.length ?? 0;

/**
 * Issue 14, the `ad` strategy's defences against a real slapd that would let the attack in:
 * it allows unauthenticated binds (a DN with an empty password), and it holds an entry
 * that an unescaped filter or DN would reach.
 */
describe('ad strategy: what never reaches the directory, and what never matches', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let slapd: Slapd;
  const clock = new TestClock();

  before(async () => {
    [gh, slapd] = await Promise.all([startGatehouse({ clock }), startSlapd()]);
  });
  after(async () => {
    await Promise.all([gh?.stop(), slapd?.stop()]);
  });

  const signIn = (connection: Connection, username: string, password: string, ip = '192.0.2.20') =>
    ldapStrategy.authenticate(gh.ctx, connection, { username, password, actor: { ip } });

  describe('an empty password', () => {
    it('this directory WOULD accept it: an unauthenticated bind as ann succeeds', async () => {
      const client = new Client({ url: slapd.url, timeout: 5_000 });
      try {
        await client.bind(PEOPLE.ann.dn, '');
      } finally {
        await client.unbind();
      }
    });

    it('the strategy refuses an empty or blank password as wrong credentials without even connecting', async () => {
      const [binds, connections] = [slapd.binds().length, accepted(slapd)];
      for (const connection of [searchConnection(slapd.url), templateConnection(slapd.url)]) {
        for (const password of ['', ' ', '\t \n']) {
          await rejectsWith(signIn(connection, 'ann', password), 'wrong_credentials');
        }
      }
      assert.equal(slapd.binds().length, binds, 'no bind');
      assert.equal(accepted(slapd), connections, 'no connection');
    });
  });

  describe('username injection', () => {
    const adminsBase = `ou=admins,ou=people,${SUFFIX}`;

    it('in a filter: an unescaped (uid=*) would find the admin entry; escaped, `*` and friends find nothing', async () => {
      // The control: the raw filter reaches exactly the admin entry, so a bind with its password would succeed.
      const client = new Client({ url: slapd.url, timeout: 5_000 });
      try {
        await client.bind(SERVICE_DN, SERVICE_PASSWORD);
        const { searchEntries } = await client.search(adminsBase, { scope: 'sub', filter: '(uid=*)' });
        assert.deepEqual(
          searchEntries.map((e) => e.dn),
          [PEOPLE.x.dn],
        );
      } finally {
        await client.unbind();
      }
      const admins = searchConnection(slapd.url, { base_dn: adminsBase, user_filter: '(uid={username})' });
      for (const username of ['*', 'x*', '*)(uid=*', ')(uid=*', 'admin)(|(uid=*', 'x)(|(uid=*)', '\\2a']) {
        await rejectsWith(signIn(admins, username, PEOPLE.x.password), 'wrong_credentials');
      }
      // With the default filter and the whole tree, neither ann's nor the admin's password gets in.
      const everyone = searchConnection(slapd.url);
      for (const username of ['*', ')(uid=*', 'admin)(|(uid=*', 'a*', '*)(objectClass=*']) {
        await rejectsWith(signIn(everyone, username, PEOPLE.ann.password), 'wrong_credentials');
        await rejectsWith(signIn(everyone, username, PEOPLE.x.password), 'wrong_credentials');
      }
      // The escaped form still finds the real user.
      const profile = await signIn(admins, 'x', PEOPLE.x.password);
      assert.equal(profile.claims.dn, PEOPLE.x.dn);
    });

    it('in a DN template: `x,ou=admins` would bind as the admin unescaped; escaped, it names no entry', async () => {
      const client = new Client({ url: slapd.url, timeout: 5_000 });
      try {
        await client.bind(`uid=x,ou=admins,ou=people,${SUFFIX}`, PEOPLE.x.password); // the control: the raw DN gets in
      } finally {
        await client.unbind();
      }
      const connection = templateConnection(slapd.url);
      for (const username of ['x,ou=admins', 'x+cn=X Admin', 'x\\,ou=admins', '#x', 'x;ou=admins']) {
        await rejectsWith(signIn(connection, username, PEOPLE.x.password), 'wrong_credentials');
      }
      assert.ok(
        // slapd logs the DN normalized: the escaped comma and equals sign as \2C and \3D, inside the uid value.
        slapd.binds().some((b) => b.startsWith('dn="uid=x\\2Cou\\3Dadmins,ou=people,')),
        `slapd saw the escaped DN: ${slapd.binds().slice(-5).join(' | ')}`,
      );
    });
  });

  describe('the brute-force guard', () => {
    it('LDAP bind failures count; once locked, even the right password never reaches the directory (429)', async () => {
      const connection = searchConnection(slapd.url);
      for (let i = 0; i < 5; i++) await rejectsWith(signIn(connection, 'ann', `wrong-${i}`), 'wrong_credentials');
      const [binds, connections] = [slapd.binds().length, accepted(slapd)];
      const refused = await signIn(connection, 'ann', PEOPLE.ann.password).then(
        () => assert.fail('signed in while locked'),
        (e: unknown) => e,
      );
      assert.ok(refused instanceof AppError, String(refused));
      assert.equal(refused.code, 'too_many_attempts');
      assert.ok(Number((refused.details as { retry_after: number }).retry_after) >= 1);
      assert.equal(slapd.binds().length, binds, 'no bind while locked');
      assert.equal(accepted(slapd), connections, 'no connection while locked');

      // The same directory account at another connection, and another account at this one, are not locked.
      assert.equal((await signIn(searchConnection(slapd.url), 'ann', PEOPLE.ann.password)).claims.uid, 'ann');
      assert.equal((await signIn(connection, 'bob', PEOPLE.bob.password)).claims.uid, 'bob');

      // After the delay the right password signs in, and clears the count.
      clock.advance(3600);
      assert.equal((await signIn(connection, 'ann', PEOPLE.ann.password)).claims.uid, 'ann');
      await rejectsWith(signIn(connection, 'ann', 'wrong-again'), 'wrong_credentials');
      assert.equal((await signIn(connection, 'ann', PEOPLE.ann.password)).claims.uid, 'ann');
    });

    it('the username is counted as the directory sees it: case and spaces do not make a fresh account', async () => {
      const connection = templateConnection(slapd.url);
      for (const username of ['bob', 'BOB', ' Bob', 'bob ', 'bOb']) {
        await rejectsWith(signIn(connection, username, 'wrong-password'), 'wrong_credentials');
      }
      const refused = await signIn(connection, 'bob', PEOPLE.bob.password).catch((e: unknown) => e);
      assert.ok(refused instanceof AppError && refused.code === 'too_many_attempts', String(refused));
    });

    it('an attempt the directory could not answer still counts (the guard counts before it asks): an outage fails closed', async () => {
      const down = searchConnection('ldap://127.0.0.1:9');
      for (let i = 0; i < 5; i++) await rejectsWith(signIn(down, 'carol', 'some-password'), 'unreachable');
      const refused = await signIn(down, 'carol', 'some-password').catch((e: unknown) => e);
      assert.ok(refused instanceof AppError && refused.code === 'too_many_attempts', String(refused));
    });
  });
});
