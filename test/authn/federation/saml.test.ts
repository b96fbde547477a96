import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { samlStrategy } from '../../../src/authn/federation/saml.js';
import { type Connection, FederationError } from '../../../src/authn/federation/strategy.js';
import { ISSUER, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import {
  addSamlConnection,
  createTestIdp,
  NAMEID_EMAIL,
  NAMEID_TRANSIENT,
  postedForm,
  type ResponseOptions,
  STATUS,
  samlKeys,
  startTestIdpServer,
  type TestIdp,
} from '../../helpers/saml-idp.js';

/** Issue 14: the `samlp` strategy against a samlify IdP that signs real assertions. */

const acs = (name: string) => `${ISSUER}/login/callback?connection=${name}`;
const entityId = (name: string) => `urn:gatehouse:gatehouse.test:${name}`;

async function refused(promise: Promise<unknown>, code: FederationError['code'], reason?: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof FederationError, `expected a FederationError, got ${String(error)}`);
    assert.equal(error.code, code, error.reason);
    if (reason) assert.match(error.reason, reason);
    return true;
  });
}

const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
const encode = (xml: string) => Buffer.from(xml).toString('base64');

describe('samlp strategy (issue 14)', () => {
  let gh: TestGatehouse;
  let idp: TestIdp;
  let main: Connection;

  before(async () => {
    gh = await startGatehouse();
    idp = createTestIdp();
    main = await addSamlConnection(gh, 'acme-saml', { metadataXml: idp.metadataXml });
  });
  after(() => gh.stop());

  /** start → the IdP reads the AuthnRequest; returns what finish needs and a response maker for it. */
  async function begin(connection: Connection, by: TestIdp = idp) {
    const state = randomBytes(12).toString('base64url');
    const { url, saved } = await samlStrategy.start(gh.ctx, connection, { redirectUri: `${ISSUER}/login/callback`, state });
    const request = await by.readRequest(url);
    const defaults: ResponseOptions = {
      inResponseTo: request.id,
      audience: entityId(connection.name),
      recipient: acs(connection.name),
      nameId: 'okta-00u1',
    };
    return {
      url,
      state,
      saved,
      request,
      respond: (overrides: Partial<ResponseOptions> = {}, signer: TestIdp = by) => signer.response({ ...defaults, ...overrides }),
      finish: (SAMLResponse: string, RelayState = state) =>
        samlStrategy.finish(gh.ctx, connection, { redirectUri: `${ISSUER}/login/callback`, params: { SAMLResponse, RelayState }, saved }),
    };
  }

  describe('start', () => {
    it('redirects to the IdP with an AuthnRequest for this connection, RelayState = state', async () => {
      const { url, state, saved, request } = await begin(main);
      assert.ok(url.startsWith(`${idp.ssoUrl}?SAMLRequest=`), url);
      assert.equal(request.id, saved.requestId);
      assert.equal(saved.relayState, state);
      assert.equal(request.relayState, state);
      assert.equal(request.issuer, entityId('acme-saml'));
      assert.equal(request.acs, acs('acme-saml'));
      assert.equal(request.signed, false);
    });

    it('signs the AuthnRequest (SigAlg RSA-SHA256) when the connection has a signing key and certificate', async () => {
      const sp = samlKeys('sp-signing');
      const signing = await addSamlConnection(
        gh,
        'signing-saml',
        { metadataXml: idp.metadataXml, signing_cert: sp.cert },
        { signing_key: sp.key },
      );
      const { url } = await samlStrategy.start(gh.ctx, signing, { redirectUri: '', state: 's' });
      assert.match(new URL(url).searchParams.get('SigAlg') ?? '', /rsa-sha256/);
      const request = await idp.readRequest(url, sp.cert);
      assert.equal(request.signed, true);
      // The same signature does not verify with another certificate.
      await assert.rejects(idp.readRequest(url, samlKeys('idp-other').cert), /SIGNATURE/);
    });

    it('a signing key that is not a private key is `misconfigured`, not a crash', async () => {
      const broken = await addSamlConnection(
        gh,
        'broken-key',
        { metadataXml: idp.metadataXml, signing_cert: samlKeys('sp-signing').cert },
        { signing_key: 'not a key' },
      );
      await refused(samlStrategy.start(gh.ctx, broken, { redirectUri: '', state: 's' }), 'misconfigured', /AuthnRequest/);
    });

    it('uses options.entityId as the SP entity id when set', async () => {
      const custom = await addSamlConnection(gh, 'custom-id', { metadataXml: idp.metadataXml, entityId: 'https://sp.example.com/saml' });
      const { request } = await begin(custom);
      assert.equal(request.issuer, 'https://sp.example.com/saml');
    });
  });

  describe('finish: accepted', () => {
    it('an assertion signed by the IdP: the person, with attributes as claims (arrays kept)', async () => {
      const flow = await begin(main);
      const profile = await flow.finish(
        await flow.respond({
          attributes: {
            email: 'ada@acme.test',
            givenName: 'Ada',
            sn: 'Lovelace',
            'http://schemas.microsoft.com/identity/claims/displayname': 'Ada Lovelace',
            groups: ['engineering', 'admins'],
          },
        }),
      );
      assert.equal(profile.subject, 'okta-00u1');
      assert.equal(profile.provider, 'samlp');
      assert.equal(profile.email, 'ada@acme.test');
      assert.equal(profile.emailVerified, false, 'SAML has no verified flag: false unless the connection says so');
      assert.equal(profile.givenName, 'Ada');
      assert.equal(profile.familyName, 'Lovelace');
      assert.equal(profile.name, 'Ada Lovelace');
      assert.deepEqual(profile.claims.groups, ['engineering', 'admins']);
      assert.equal(profile.claims.email, 'ada@acme.test');
      assert.equal(profile.mfa, false);
    });

    it('a Response signed by the IdP (assertion unsigned)', async () => {
      const flow = await begin(main);
      const profile = await flow.finish(await flow.respond({ sign: 'response' }));
      assert.equal(profile.subject, 'okta-00u1');
    });

    it('both signed; an MFA AuthnContextClassRef sets mfa; emails_verified: true makes the email verified', async () => {
      const verified = await addSamlConnection(gh, 'verified-saml', { metadataXml: idp.metadataXml, emails_verified: true });
      const flow = await begin(verified);
      const profile = await flow.finish(
        await flow.respond({
          sign: 'both',
          nameId: 'ada@acme.test',
          nameIdFormat: NAMEID_EMAIL,
          authnContext: 'http://schemas.microsoft.com/claims/multipleauthn',
        }),
      );
      assert.equal(profile.subject, 'ada@acme.test');
      assert.equal(profile.email, 'ada@acme.test', 'an emailAddress NameID is the email');
      assert.equal(profile.emailVerified, true);
      assert.equal(profile.mfa, true);
      assert.deepEqual(profile.claims.authnContextClassRef, ['http://schemas.microsoft.com/claims/multipleauthn']);
    });

    it('Entra ID’s authnmethodsreferences attribute with multipleauthn sets mfa; a password context does not', async () => {
      const flow = await begin(main);
      const profile = await flow.finish(
        await flow.respond({
          attributes: {
            'http://schemas.microsoft.com/claims/authnmethodsreferences': [
              'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
              'http://schemas.microsoft.com/claims/multipleauthn',
            ],
          },
        }),
      );
      assert.equal(profile.mfa, true);
      const plain = await begin(main);
      const single = await plain.finish(await plain.respond({ authnContext: 'urn:oasis:names:tc:SAML:2.0:ac:classes:Password' }));
      assert.equal(single.mfa, false);
    });

    it('an encrypted assertion, decrypted with the connection’s decryption key', async () => {
      const enc = samlKeys('sp-encryption');
      const encrypted = await addSamlConnection(
        gh,
        'encrypted-saml',
        { metadataXml: idp.metadataXml, decryption_cert: enc.cert },
        { decryption_key: enc.key },
      );
      for (const sign of ['assertion', 'response'] as const) {
        const flow = await begin(encrypted);
        const response = await flow.respond({ sign, encryptFor: enc.cert, attributes: { mail: 'enc@acme.test' } });
        assert.match(decode(response), /EncryptedAssertion/);
        assert.doesNotMatch(decode(response), /enc@acme\.test/);
        const profile = await flow.finish(response);
        assert.equal(profile.email, 'enc@acme.test', sign);
      }
      // Without the key the connection is misconfigured, not a 500.
      const flow = await begin(main);
      await refused(flow.finish(await flow.respond({ encryptFor: enc.cert })), 'misconfigured', /decryption_key/);
    });

    it('a transient NameID: the subject comes from user_id_attribute; without one it is refused', async () => {
      const byAttribute = await addSamlConnection(gh, 'transient-saml', { metadataXml: idp.metadataXml, user_id_attribute: 'uid' });
      const flow = await begin(byAttribute);
      const profile = await flow.finish(await flow.respond({ nameId: '_t1', nameIdFormat: NAMEID_TRANSIENT, attributes: { uid: 'ada' } }));
      assert.equal(profile.subject, 'ada');
      const plain = await begin(main);
      await refused(plain.finish(await plain.respond({ nameId: '_t2', nameIdFormat: NAMEID_TRANSIENT })), 'misconfigured', /transient/);
    });

    it('a response 30 s past NotOnOrAfter is within the 60 s clock skew', async () => {
      const flow = await begin(main);
      const profile = await flow.finish(
        await flow.respond({ notBefore: new Date(Date.now() - 120_000), notOnOrAfter: new Date(Date.now() - 30_000) }),
      );
      assert.equal(profile.subject, 'okta-00u1');
    });
  });

  describe('finish: refused', () => {
    it('unsigned (neither the Response nor the assertion)', async () => {
      const flow = await begin(main);
      const response = await flow.respond({ sign: 'none' });
      assert.doesNotMatch(decode(response), /Signature/);
      await refused(flow.finish(response), 'invalid_response', /signature/i);
    });

    it('signed by a key the IdP metadata does not name', async () => {
      const impostor = createTestIdp({ key: 'idp-other' });
      for (const sign of ['assertion', 'response', 'both'] as const) {
        const flow = await begin(main);
        await refused(flow.finish(await flow.respond({ sign }, impostor)), 'invalid_response', /signature/i);
      }
    });

    it('an assertion of another Issuer, even signed by the right key', async () => {
      const flow = await begin(main);
      await refused(flow.finish(await flow.respond({ issuer: 'https://evil.test/saml' })), 'invalid_response', /Issuer/);
    });

    it('wrong audience', async () => {
      const flow = await begin(main);
      await refused(flow.finish(await flow.respond({ audience: entityId('other-connection') })), 'invalid_response', /audience/);
    });

    it('wrong Recipient (another ACS) and wrong Destination', async () => {
      const flow = await begin(main);
      await refused(
        flow.finish(await flow.respond({ recipient: acs('other-connection'), destination: acs('acme-saml') })),
        'invalid_response',
        /Recipient/,
      );
      const second = await begin(main);
      await refused(second.finish(await second.respond({ destination: 'https://elsewhere.test/acs' })), 'invalid_response', /Destination/);
    });

    it('wrong InResponseTo (the answer to another request)', async () => {
      const flow = await begin(main);
      const other = await begin(main);
      await refused(flow.finish(await flow.respond({ inResponseTo: other.request.id })), 'invalid_response', /InResponseTo/);
    });

    it('IdP-initiated (no InResponseTo)', async () => {
      const flow = await begin(main);
      await refused(flow.finish(await flow.respond({ inResponseTo: null })), 'invalid_response', /InResponseTo/);
    });

    it('expired (NotOnOrAfter 2 minutes ago, past the skew)', async () => {
      const flow = await begin(main);
      await refused(
        flow.finish(await flow.respond({ notBefore: new Date(Date.now() - 600_000), notOnOrAfter: new Date(Date.now() - 120_000) })),
        'invalid_response',
        /expired|subject confirmation/i,
      );
    });

    it('not yet valid (NotBefore in 5 minutes)', async () => {
      const flow = await begin(main);
      await refused(
        flow.finish(await flow.respond({ notBefore: new Date(Date.now() + 300_000), notOnOrAfter: new Date(Date.now() + 600_000) })),
        'invalid_response',
        /not yet valid|subject confirmation/i,
      );
    });

    it('replayed: the same assertion twice', async () => {
      const flow = await begin(main);
      const response = await flow.respond();
      await flow.finish(response);
      await refused(flow.finish(response), 'invalid_response', /replay/);
      const stored = await gh.ctx.db.selectFrom('saml_assertions').selectAll().where('connection_id', '=', main.id).execute();
      assert.ok(stored.length >= 1);
      assert.ok(stored.every((row) => row.expires_at.getTime() > Date.now()));
    });

    it('replayed through another flow of the same connection', async () => {
      const first = await begin(main);
      const assertionId = `_replay${randomBytes(8).toString('hex')}`;
      await first.finish(await first.respond({ assertionId }));
      const second = await begin(main);
      await refused(second.finish(await second.respond({ assertionId })), 'invalid_response', /replay/);
    });

    it('RelayState that is not the flow’s', async () => {
      const flow = await begin(main);
      await refused(flow.finish(await flow.respond(), 'another-state'), 'invalid_response', /RelayState/);
    });

    it('a failure status: Responder → provider_error; AuthnFailed and RequestDenied → cancelled', async () => {
      const flow = await begin(main);
      await refused(flow.finish(await flow.respond({ status: STATUS.responder })), 'provider_error', /Responder/);
      for (const subStatus of [STATUS.authnFailed, STATUS.requestDenied]) {
        const again = await begin(main);
        await refused(again.finish(await again.respond({ status: STATUS.responder, subStatus })), 'cancelled');
      }
    });

    it('garbage and a DOCTYPE (no entity expansion) are refused as invalid responses', async () => {
      const flow = await begin(main);
      await refused(flow.finish(encode('not xml at all <')), 'invalid_response');
      await refused(
        flow.finish(
          encode('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>'),
        ),
        'invalid_response',
        /DOCTYPE/,
      );
    });
  });

  describe('XML signature wrapping (node-saml verifies only the signed bytes, and refuses the classic wrappings)', () => {
    /** A validly signed Response for the flow, its signed assertion, and an evil copy naming someone else (unsigned, new ID). */
    async function parts(flow: Awaited<ReturnType<typeof begin>>, sign: 'assertion' | 'response' = 'assertion') {
      const xml = decode(await flow.respond({ sign, nameId: 'victim' }));
      const assertion = xml.match(/<saml:Assertion[\s\S]*<\/saml:Assertion>/)?.[0] as string;
      const evil = assertion
        .replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, '')
        .replace('>victim<', '>attacker<')
        .replace(/ ID="[^"]+"/, ' ID="_evil"');
      return { xml, assertion, evil };
    }

    it('XSW: an unsigned assertion injected before the signed one (two assertions)', async () => {
      const flow = await begin(main);
      const { xml, assertion, evil } = await parts(flow);
      await refused(flow.finish(encode(xml.replace(assertion, evil + assertion))), 'invalid_response', /multiple assertions/);
    });

    it('XSW: the signed assertion moved into the evil one’s Signature (the signature no longer refers to its parent)', async () => {
      const flow = await begin(main);
      const { xml, assertion } = await parts(flow);
      const signature = assertion.match(/<ds:Signature[\s\S]*<\/ds:Signature>/)?.[0] as string;
      const evil = assertion
        .replace(signature, signature.replace('</ds:Signature>', `<ds:Object>${assertion}</ds:Object></ds:Signature>`))
        .replace(/>victim</, '>attacker<')
        .replace(/ ID="[^"]+"/, ' ID="_evil"');
      await refused(flow.finish(encode(xml.replace(assertion, evil))), 'invalid_response', /refer|signature/i);
    });

    it('XSW: an evil assertion with the signed one’s ID and signature, the original hidden in its Advice (duplicate IDs)', async () => {
      const flow = await begin(main);
      const { xml, assertion } = await parts(flow);
      const evil = assertion
        .replace('>victim<', '>attacker<')
        .replace('<saml:Conditions', `<saml:Advice>${assertion}</saml:Advice><saml:Conditions`);
      await refused(flow.finish(encode(xml.replace(assertion, evil))), 'invalid_response', /more than one|signature/i);
    });

    it('XSW: a signed Response wrapped inside a new unsigned Response with the evil assertion', async () => {
      const flow = await begin(main);
      const { xml, assertion, evil } = await parts(flow, 'response');
      const head = xml.match(/^[\s\S]*?<samlp:Status>[\s\S]*?<\/samlp:Status>/)?.[0] as string;
      const wrapper = `${head
        .replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/, '')
        .replace(/ ID="[^"]+"/, ' ID="_wrapper"')}<samlp:Extensions>${xml}</samlp:Extensions>${evil}</samlp:Response>`;
      assert.ok(wrapper.includes(assertion));
      await refused(flow.finish(encode(wrapper)), 'invalid_response', /signature/i);
    });
  });

  describe('IdP metadata', () => {
    let server: Server;
    let hits = 0;
    before(async () => {
      server = createServer((_request, response) => {
        hits++;
        response.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(idp.metadataXml);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    after(() => server.close());

    it('metadataUrl: fetched through the checked fetch, then reused for a few minutes', async () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata`;
      const byUrl = await addSamlConnection(gh, 'by-url', { metadataUrl: url });
      const flow = await begin(byUrl);
      assert.equal((await flow.finish(await flow.respond())).subject, 'okta-00u1');
      await begin(byUrl);
      assert.equal(hits, 1, 'the second sign-in reads the cached metadata');
    });

    it('a change to a connection, even by plain SQL, drops the fetched metadata within a second (issue 18: the change feed)', async () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata`;
      const byUrl = await addSamlConnection(gh, 'by-url-changed', { metadataUrl: url });
      await begin(byUrl);
      const fetched = hits;
      await begin(byUrl);
      assert.equal(hits, fetched, 'cached');
      await sql`update connections set display_name = display_name where id = ${byUrl.id}`.execute(gh.ctx.db);
      const start = performance.now();
      while (hits === fetched) {
        assert.ok(performance.now() - start < 1_000, 'fetched again within one second of the change');
        await begin(byUrl);
      }
      assert.equal(hits, fetched + 1);
    });

    it('an unreachable metadataUrl is `unreachable`; metadata without an IdP is `misconfigured`', async () => {
      const down = await addSamlConnection(gh, 'down-url', { metadataUrl: 'http://127.0.0.1:9/metadata' });
      await refused(samlStrategy.start(gh.ctx, down, { redirectUri: '', state: 's' }), 'unreachable');
      const empty = await addSamlConnection(gh, 'empty-md', {
        metadataXml: '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
      });
      await refused(samlStrategy.start(gh.ctx, empty, { redirectUri: '', state: 's' }), 'misconfigured', /identity providers/);
    });

    it('signInEndpoint and signingCert override the metadata', async () => {
      const other = createTestIdp({ key: 'idp-other', ssoUrl: 'https://other.test/sso' });
      const overridden = await addSamlConnection(gh, 'overridden', {
        metadataXml: idp.metadataXml,
        signInEndpoint: 'https://other.test/sso',
        signingCert: other.cert,
      });
      const flow = await begin(overridden, other);
      assert.ok(flow.url.startsWith('https://other.test/sso?'));
      assert.equal((await flow.finish(await flow.respond())).subject, 'okta-00u1');
      const again = await begin(overridden, other);
      await refused(again.finish(await again.respond({}, idp)), 'invalid_response', /signature/i);
    });

    it('the served test IdP: redirect → auto-POSTed form to the ACS → the person (what the flow and browser tests use)', async () => {
      const server = await startTestIdpServer({ answer: { nameId: 'served-1', attributes: { email: 'served@acme.test' } } });
      try {
        const connection = await addSamlConnection(gh, 'served-idp', { metadataUrl: server.metadataUrl });
        const state = 'state-served';
        const { url, saved } = await samlStrategy.start(gh.ctx, connection, { redirectUri: '', state });
        const page = await fetch(url);
        assert.equal(page.status, 200);
        const { action, fields } = postedForm(await page.text());
        assert.equal(action, `${ISSUER}/login/callback?connection=served-idp`);
        assert.equal(fields.RelayState, state);
        const profile = await samlStrategy.finish(gh.ctx, connection, { redirectUri: '', params: fields, saved });
        assert.equal(profile.subject, 'served-1');
        assert.equal(profile.email, 'served@acme.test');
        assert.equal(server.requests.length, 1);
      } finally {
        await server.close();
      }
    });

    it('two signing certificates in the metadata (a rollover): a Response signed with either is accepted', async () => {
      const next = createTestIdp({ key: 'idp-other' });
      const body = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
      const descriptor = `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${body(next.cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`;
      const metadataXml = idp.metadataXml.replace(/(<(\w+:)?IDPSSODescriptor[^>]*>)/, `$1${descriptor.replace(/md:/g, '$2')}`);
      assert.notEqual(metadataXml, idp.metadataXml);
      const rolling = await addSamlConnection(gh, 'rolling', { metadataXml });
      for (const signer of [idp, next]) {
        const flow = await begin(rolling);
        assert.equal((await flow.finish(await flow.respond({}, signer))).subject, 'okta-00u1');
      }
    });

    it('a metadata with only the HTTP-POST SingleSignOnService: its location is used', async () => {
      const postOnly = createTestIdp({ ssoBinding: 'post', ssoUrl: 'https://idp.test/post-sso' });
      const connection = await addSamlConnection(gh, 'post-only', { metadataXml: postOnly.metadataXml });
      const { url } = await samlStrategy.start(gh.ctx, connection, { redirectUri: '', state: 's' });
      assert.ok(url.startsWith('https://idp.test/post-sso?SAMLRequest='));
    });
  });
});
