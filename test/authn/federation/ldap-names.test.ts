import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EqualityFilter, FilterParser } from 'ldapts';
import { escapeDnValue, escapeFilterValue, fillTemplate, firstRdnValue, guidString } from '../../../src/authn/federation/ldap-names.js';

/** Issue 14, the `ad` strategy: a username is data in an LDAP filter or DN, never syntax (decision 258). */
describe('LDAP names: escaping a username', () => {
  it('escapes the filter specials of RFC 4515 (*, (, ), \\, NUL) and nothing else', () => {
    assert.equal(escapeFilterValue('ann'), 'ann');
    assert.equal(escapeFilterValue('*'), '\\2a');
    assert.equal(escapeFilterValue(')(uid=*'), '\\29\\28uid=\\2a');
    assert.equal(escapeFilterValue('admin)(|(uid=*'), 'admin\\29\\28|\\28uid=\\2a');
    assert.equal(escapeFilterValue('a\\b'), 'a\\5cb');
    assert.equal(escapeFilterValue('a\0b'), 'a\\00b');
    assert.equal(escapeFilterValue('jörg@exämple.org'), 'jörg@exämple.org');
  });

  it('a filled filter parses as ONE equality on the literal username (ldapts’s parser as the judge)', () => {
    for (const username of ['*', ')(uid=*', 'admin)(|(uid=*', 'x*y', '\\2a', 'a\0b', '$&', '$1']) {
      const filter = FilterParser.parseString(fillTemplate('(uid={username})', username, escapeFilterValue));
      assert.ok(filter instanceof EqualityFilter, `${username}: ${filter.toString()}`);
      assert.equal(filter.attribute, 'uid');
      assert.equal(String(filter.value), username);
    }
  });

  it('fills every {username} and keeps $ patterns literal', () => {
    assert.equal(fillTemplate('(|(uid={username})(mail={username}))', '$&x', escapeFilterValue), '(|(uid=$&x)(mail=$&x))');
  });

  it('escapes a DN value per RFC 4514: specials, a leading # or space, a trailing space, NUL', () => {
    assert.equal(escapeDnValue('ann'), 'ann');
    assert.equal(escapeDnValue('x,ou=admins'), 'x\\,ou\\=admins');
    assert.equal(escapeDnValue('a+b;c<d>e"f\\g'), 'a\\+b\\;c\\<d\\>e\\"f\\\\g');
    assert.equal(escapeDnValue('#x'), '\\#x');
    assert.equal(escapeDnValue(' x '), '\\ x\\ ');
    assert.equal(escapeDnValue('a\0b'), 'a\\00b');
    assert.equal(escapeDnValue('x#'), 'x#');
    assert.equal(
      fillTemplate('uid={username},ou=people,dc=example,dc=org', 'x,ou=admins', escapeDnValue),
      'uid=x\\,ou\\=admins,ou=people,dc=example,dc=org',
    );
  });

  it('reads a group’s cn from its DN, escapes undone', () => {
    assert.equal(firstRdnValue('cn=engineering,ou=groups,dc=example,dc=org'), 'engineering');
    assert.equal(firstRdnValue('CN=Domain Admins,CN=Users,DC=corp,DC=example'), 'Domain Admins');
    assert.equal(firstRdnValue('cn=Ops\\, EU,ou=groups'), 'Ops, EU');
    assert.equal(firstRdnValue('cn=Ops\\2C EU+ou=x,ou=groups'), 'Ops, EU');
    assert.equal(firstRdnValue('cn=J\\C3\\B6rg,ou=groups'), 'Jörg');
    assert.equal(firstRdnValue('ou=groups,dc=example'), undefined);
    assert.equal(firstRdnValue('nonsense'), undefined);
  });

  it('formats an objectGUID as Active Directory shows it (first three groups little-endian)', () => {
    const bytes = Buffer.from('e004253f894fd3119a0c0305e82c3301', 'hex');
    assert.equal(guidString(bytes), '3f2504e0-4f89-11d3-9a0c-0305e82c3301');
    assert.equal(guidString(Buffer.alloc(4)), undefined);
  });
});
