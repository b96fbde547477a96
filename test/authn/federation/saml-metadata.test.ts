import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ISSUER, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { addSamlConnection, certBody, createTestIdp, readSpMetadata, samlKeys } from '../../helpers/saml-idp.js';

/** Issue 14: GET /samlp/metadata?connection=NAME, the SP metadata an administrator gives the IdP. */
describe('SAML SP metadata (GET /samlp/metadata)', () => {
  let gh: TestGatehouse;
  const idp = createTestIdp();
  const get = (query: string) => gh.app.inject({ method: 'GET', url: `/samlp/metadata${query}` });

  before(async () => {
    gh = await startGatehouse();
    await addSamlConnection(gh, 'acme-saml', { metadataXml: idp.metadataXml });
    const signing = samlKeys('sp-signing');
    const encryption = samlKeys('sp-encryption');
    await addSamlConnection(
      gh,
      'keyed-saml',
      { metadataXml: idp.metadataXml, signing_cert: signing.cert, decryption_cert: encryption.cert },
      { signing_key: signing.key, decryption_key: encryption.key },
    );
    await addSamlConnection(gh, 'google-ish', { issuer: 'https://accounts.google.com', client_id: 'x' }, {}, 'oidc');
  });
  after(() => gh.stop());

  it('names the entity id and the ACS of the connection; no keys when it has none', async () => {
    const response = await get('?connection=acme-saml');
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^application\/samlmetadata\+xml/);
    const meta = readSpMetadata(response.body);
    assert.equal(meta.entityId, 'urn:gatehouse:gatehouse.test:acme-saml');
    assert.deepEqual(meta.acs, [`${ISSUER}/login/callback?connection=acme-saml`]);
    assert.deepEqual(meta.signingCerts, []);
    assert.deepEqual(meta.encryptionCerts, []);
    assert.equal(meta.authnRequestsSigned, false);
    assert.equal(meta.wantAssertionsSigned, true);
  });

  it('publishes the signing and encryption certificates, never a key', async () => {
    const response = await get('?connection=keyed-saml');
    assert.equal(response.statusCode, 200);
    const meta = readSpMetadata(response.body);
    assert.equal(meta.entityId, 'urn:gatehouse:gatehouse.test:keyed-saml');
    assert.deepEqual(meta.signingCerts, [certBody(samlKeys('sp-signing').cert)]);
    assert.deepEqual(meta.encryptionCerts, [certBody(samlKeys('sp-encryption').cert)]);
    assert.equal(meta.authnRequestsSigned, true);
    assert.doesNotMatch(response.body, /PRIVATE/);
    for (const key of [samlKeys('sp-signing').key, samlKeys('sp-encryption').key]) {
      assert.ok(!response.body.includes(certBody(key).slice(0, 40)), 'no private key material');
    }
  });

  it('finds the connection case-insensitively, and speaks its stored name', async () => {
    const response = await get('?connection=ACME-SAML');
    assert.equal(response.statusCode, 200);
    assert.equal(readSpMetadata(response.body).entityId, 'urn:gatehouse:gatehouse.test:acme-saml');
  });

  it('404 connection_not_found for an unknown connection and for one of another strategy; 400 without a name', async () => {
    for (const query of ['?connection=nope', '?connection=google-ish']) {
      const response = await get(query);
      assert.equal(response.statusCode, 404, query);
      assert.equal(response.json().error, 'connection_not_found');
    }
    const missing = await get('');
    assert.equal(missing.statusCode, 400);
  });
});
