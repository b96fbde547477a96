import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ldapStrategy } from '../../src/authn/federation/ldap.js';
import { startGatehouse, type TestGatehouse } from '../helpers/gatehouse.js';
import { PEOPLE, type Slapd, SUFFIX, startSlapd } from '../helpers/slapd.js';
import { adConnection, rejectsWith, searchConnection, templateConnection } from './connection.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const GROUPS = `ou=groups,${SUFFIX}`;

/** Issue 14: the `ad` strategy against a real OpenLDAP slapd (bind as the user, attributes, groups, TLS, failures). */
describe('ad strategy: sign-in at a real slapd', { timeout: 120_000 }, () => {
  let gh: TestGatehouse;
  let slapd: Slapd;

  before(async () => {
    [gh, slapd] = await Promise.all([startGatehouse(), startSlapd()]);
  });
  after(async () => {
    await Promise.all([gh?.stop(), slapd?.stop()]);
  });

  const signIn = (connection: ReturnType<typeof adConnection>, username: string, password: string) =>
    ldapStrategy.authenticate(gh.ctx, connection, { username, password, actor: { ip: '192.0.2.10' } });

  it('binds as the user found by the service account and returns the attributes and the memberOf groups', async () => {
    const profile = await signIn(searchConnection(slapd.url), 'ann', PEOPLE.ann.password);
    assert.match(profile.subject, UUID, 'the entryUUID, stable across renames');
    assert.equal(profile.provider, 'ad');
    assert.equal(profile.email, 'ann@example.org');
    assert.equal(profile.emailVerified, false, 'not trusted unless the connection says so');
    assert.equal(profile.name, 'Ann E.');
    assert.equal(profile.givenName, 'Ann');
    assert.equal(profile.familyName, 'Example');
    assert.equal(profile.mfa, false);
    assert.equal(profile.claims.dn, PEOPLE.ann.dn);
    assert.equal(profile.claims.uid, 'ann');
    assert.equal(profile.claims.cn, 'Ann Example');
    assert.equal(profile.claims.entryUUID, profile.subject);
    assert.deepEqual(profile.claims.memberOf, [`cn=engineering,${GROUPS}`, `cn=gatehouse-admins,${GROUPS}`]);
    assert.deepEqual(profile.claims.groups, ['engineering', 'gatehouse-admins']);
    assert.equal(JSON.stringify(profile).includes('userPassword'), false);
    assert.equal(JSON.stringify(profile).includes('SSHA'), false);
  });

  it('finds the user by mail too (the default filter), and the same entry gives the same subject', async () => {
    const connection = searchConnection(slapd.url);
    const byUid = await signIn(connection, 'ann', PEOPLE.ann.password);
    const byMail = await signIn(connection, '  Ann@Example.org ', PEOPLE.ann.password);
    assert.equal(byMail.subject, byUid.subject);
  });

  it('emails_verified: true marks the directory address verified', async () => {
    const profile = await signIn(searchConnection(slapd.url, { emails_verified: true }), 'ann', PEOPLE.ann.password);
    assert.equal(profile.emailVerified, true);
  });

  it('user_dn_template: binds at the templated DN and reads the entry and groups as the user', async () => {
    const profile = await signIn(templateConnection(slapd.url), 'ann', PEOPLE.ann.password);
    assert.match(profile.subject, UUID);
    assert.equal(profile.email, 'ann@example.org');
    assert.deepEqual(profile.claims.groups, ['engineering', 'gatehouse-admins']);
  });

  it('without memberOf, the groups come from a search for member/uniqueMember under group_base_dn', async () => {
    const profile = await signIn(searchConnection(slapd.url, { group_base_dn: GROUPS }), 'bob', PEOPLE.bob.password);
    assert.equal(profile.claims.memberOf === undefined, false);
    assert.deepEqual(profile.claims.memberOf, [`cn=ops,${GROUPS}`]);
    assert.deepEqual(profile.claims.groups, ['ops']);
    assert.equal(profile.email, 'bob@example.org');
    assert.equal(profile.name, 'Bob Builder');
  });

  it('a wrong password is wrong_credentials, with a search and with a template', async () => {
    await rejectsWith(signIn(searchConnection(slapd.url), 'ann', 'not-her-password'), 'wrong_credentials');
    await rejectsWith(signIn(templateConnection(slapd.url), 'ann', 'not-her-password'), 'wrong_credentials');
  });

  it('an unknown user is wrong_credentials, with a search and with a template', async () => {
    await rejectsWith(signIn(searchConnection(slapd.url), 'nobody', 'any-password'), 'wrong_credentials');
    await rejectsWith(signIn(templateConnection(slapd.url), 'nobody', 'any-password'), 'wrong_credentials');
  });

  it('a malformed username (NUL, too long) is wrong_credentials without a bind', async () => {
    const before = slapd.binds().length;
    await rejectsWith(signIn(searchConnection(slapd.url), 'ann\0', PEOPLE.ann.password), 'wrong_credentials');
    await rejectsWith(signIn(searchConnection(slapd.url), 'a'.repeat(257), PEOPLE.ann.password), 'wrong_credentials');
    await rejectsWith(signIn(searchConnection(slapd.url), '   ', PEOPLE.ann.password), 'wrong_credentials');
    assert.equal(slapd.binds().length, before);
  });

  it('a service account the directory refuses is misconfigured, not the user’s wrong credentials', async () => {
    const connection = adConnection({ url: slapd.url, bind_dn: `cn=gatehouse,ou=services,${SUFFIX}` }, { bind_password: 'wrong' });
    await rejectsWith(signIn(connection, 'ann', PEOPLE.ann.password), 'misconfigured');
  });

  it('options that cannot work are misconfigured: no way to find the user (no anonymous search), a non-LDAP URL, ldaps + starttls', async () => {
    await rejectsWith(signIn(adConnection({ url: slapd.url }), 'ann', PEOPLE.ann.password), 'misconfigured');
    await rejectsWith(
      signIn(adConnection({ url: 'http://127.0.0.1/', user_dn_template: 'uid={username}' }), 'ann', 'x-password'),
      'misconfigured',
    );
    await rejectsWith(signIn(templateConnection(slapd.ldapsUrl, { starttls: true, ca: slapd.ca }), 'ann', 'x-password'), 'misconfigured');
    await rejectsWith(signIn(adConnection({ url: slapd.url, bind_dn: 'cn=x' }), 'ann', 'x-password'), 'misconfigured');
  });

  describe('TLS', () => {
    it('ldaps:// with the connection’s CA: signs in', async () => {
      const profile = await signIn(searchConnection(slapd.ldapsUrl, { ca: slapd.ca }), 'ann', PEOPLE.ann.password);
      assert.equal(profile.claims.uid, 'ann');
    });

    it('StartTLS with the connection’s CA: signs in', async () => {
      const profile = await signIn(templateConnection(slapd.url, { starttls: true, ca: slapd.ca }), 'ann', PEOPLE.ann.password);
      assert.equal(profile.claims.uid, 'ann');
    });

    it('a certificate from another CA is refused (unreachable), before any bind, over ldaps:// and StartTLS', async () => {
      const before = slapd.binds().length;
      await rejectsWith(signIn(searchConnection(slapd.ldapsUrl, { ca: slapd.wrongCa }), 'ann', PEOPLE.ann.password), 'unreachable');
      await rejectsWith(
        signIn(templateConnection(slapd.url, { starttls: true, ca: slapd.wrongCa }), 'ann', PEOPLE.ann.password),
        'unreachable',
      );
      // Without a CA the system's trust store applies: the test CA is not in it.
      await rejectsWith(signIn(searchConnection(slapd.ldapsUrl), 'ann', PEOPLE.ann.password), 'unreachable');
      assert.equal(slapd.binds().length, before, 'no password went over an unverified connection');
    });
  });

  describe('an unreachable directory', () => {
    it('a closed port is unreachable', async () => {
      const server = createServer().listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      server.close();
      await once(server, 'close');
      await rejectsWith(signIn(searchConnection(`ldap://127.0.0.1:${port}`), 'ann', PEOPLE.ann.password), 'unreachable');
    });

    it('a server that accepts and never answers is unreachable after the timeout', async () => {
      const sockets: Socket[] = [];
      const server = createServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      try {
        const started = Date.now();
        await rejectsWith(
          signIn(searchConnection(`ldap://127.0.0.1:${port}`, { timeout_seconds: 1 }), 'ann', PEOPLE.ann.password),
          'unreachable',
        );
        assert.ok(Date.now() - started < 5_000);
        await rejectsWith(
          signIn(searchConnection(`ldaps://127.0.0.1:${port}`, { timeout_seconds: 1, ca: slapd.ca }), 'ann', PEOPLE.ann.password),
          'unreachable',
        );
      } finally {
        for (const socket of sockets) socket.destroy();
        server.close();
      }
    });
  });

  it('every connection the strategy opened, whatever the outcome, is closed', async () => {
    for (const [connection, password] of [
      [searchConnection(slapd.url), PEOPLE.ann.password],
      [searchConnection(slapd.url), 'wrong-password'],
      [templateConnection(slapd.url), PEOPLE.ann.password],
      [templateConnection(slapd.url, { starttls: true, ca: slapd.ca }), 'wrong-password'],
      [searchConnection(slapd.ldapsUrl, { ca: slapd.wrongCa }), PEOPLE.ann.password],
    ] as const) {
      await signIn(connection, 'ann', password).catch(() => {});
    }
    const count = (pattern: RegExp) => slapd.log().match(pattern)?.length ?? 0;
    const deadline = Date.now() + 5_000;
    while (count(/ ACCEPT from /g) !== count(/ fd=\d+ closed/g) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(count(/ ACCEPT from /g) > 5);
    assert.equal(count(/ fd=\d+ closed/g), count(/ ACCEPT from /g), 'slapd closed every connection it accepted');
  });

  it('in production, an internal address is refused unless the operator allowed its network', async () => {
    const production = await startGatehouse({ production: true });
    const allowed = await startGatehouse({ production: true, config: { webhookAllowedNetworks: '127.0.0.1/32' } });
    try {
      const connection = searchConnection(slapd.url);
      await rejectsWith(
        ldapStrategy.authenticate(production.ctx, connection, { username: 'ann', password: PEOPLE.ann.password }),
        'misconfigured',
      );
      const profile = await ldapStrategy.authenticate(allowed.ctx, connection, { username: 'ann', password: PEOPLE.ann.password });
      assert.equal(profile.claims.uid, 'ann');
    } finally {
      await Promise.all([production.stop(), allowed.stop()]);
    }
  });
});
