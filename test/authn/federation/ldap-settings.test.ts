import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_USER_FILTER, settingsOf } from '../../../src/authn/federation/ldap-settings.js';
import { type Connection, FederationError } from '../../../src/authn/federation/strategy.js';
import { testConnection } from '../../helpers/federation-strategy.js';

const connection = (options: Record<string, unknown>, secrets: Record<string, string> = {}): Connection =>
  testConnection('ad', { url: 'ldaps://dc1.corp.example', base_dn: 'dc=corp,dc=example', ...options }, secrets);

const misconfigured = (options: Record<string, unknown>, secrets: Record<string, string> = {}, reason?: RegExp) =>
  assert.throws(
    () => settingsOf(connection(options, secrets)),
    (e: unknown) => e instanceof FederationError && e.code === 'misconfigured' && (!reason || reason.test(e.reason)),
  );

/** Issue 14, the `ad` strategy's options (docs/federation.md#ad): what cannot work is `misconfigured`, before any connection. */
describe('ad strategy: the connection options', () => {
  it('a service account: the default filter, group_base_dn defaulting to base_dn, 5-second timeouts, emails unverified', () => {
    const settings = settingsOf(connection({ bind_dn: 'cn=svc,dc=corp,dc=example' }, { bind_password: 's3cret' }));
    assert.equal(settings.userFilter, DEFAULT_USER_FILTER);
    assert.equal(settings.groupBaseDn, 'dc=corp,dc=example');
    assert.deepEqual(settings.service, { dn: 'cn=svc,dc=corp,dc=example', password: 's3cret' });
    assert.equal(settings.timeoutMs, 5_000);
    assert.equal(settings.emailsVerified, false);
    assert.equal(settings.starttls, false);
  });

  it('emails_verified only when exactly true', () => {
    const template = { user_dn_template: 'uid={username},dc=corp,dc=example' };
    assert.equal(settingsOf(connection({ ...template, emails_verified: true })).emailsVerified, true);
    assert.equal(settingsOf(connection({ ...template, emails_verified: 'true' })).emailsVerified, false);
  });

  it('no anonymous search: neither a template nor a service account is misconfigured', () => {
    misconfigured({}, {}, /user_dn_template, or bind_dn/);
    misconfigured({ bind_dn: 'cn=svc,dc=corp,dc=example' }, {}, /bind_password/);
  });

  it('a URL that is not ldap:// or ldaps://, or carries credentials', () => {
    misconfigured({ url: 'https://dc1.corp.example', user_dn_template: 'uid={username}' });
    misconfigured({ url: 'ldap://user:pw@dc1.corp.example', user_dn_template: 'uid={username}' });
    misconfigured({ url: 'not a url', user_dn_template: 'uid={username}' });
    misconfigured({ url: 42, user_dn_template: 'uid={username}' });
  });

  it('StartTLS on ldaps://, templates and filters without {username}, a timeout out of range', () => {
    misconfigured({ starttls: true, user_dn_template: 'uid={username}' }, {}, /starttls/);
    misconfigured({ user_dn_template: 'uid=admin,dc=corp,dc=example' }, {}, /\{username\}/);
    misconfigured({ bind_dn: 'cn=svc', user_filter: '(uid=admin)' }, { bind_password: 'x' }, /\{username\}/);
    misconfigured({ user_dn_template: 'uid={username}', timeout_seconds: 0 });
    misconfigured({ user_dn_template: 'uid={username}', timeout_seconds: 31 });
    misconfigured({ user_dn_template: 'uid={username}', timeout_seconds: '5' });
  });

  it('a template that is not a DN (AD’s user@domain), a CA on a plain ldap:// connection', () => {
    misconfigured({ user_dn_template: '{username}@corp.example' }, {}, /must be a DN/);
    misconfigured({ url: 'ldap://dc1.corp.example', ca: 'PEM', user_dn_template: 'uid={username}' }, {}, /ca is for/);
    assert.equal(
      settingsOf(connection({ url: 'ldap://dc1.corp.example', starttls: true, ca: 'PEM', user_dn_template: 'uid={username}' })).ca,
      'PEM',
    );
  });

  it('the reason never holds the bind password', () => {
    try {
      settingsOf(connection({ bind_dn: 'cn=svc', user_filter: 'nope' }, { bind_password: 'hunter2-secret' }));
      assert.fail('accepted');
    } catch (error) {
      assert.ok(error instanceof FederationError);
      assert.equal(error.reason.includes('hunter2'), false);
    }
  });
});
