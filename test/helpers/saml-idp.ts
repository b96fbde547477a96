import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connectionByName, secretsContext } from '../../src/authn/federation/connections.js';
import type { Connection } from '../../src/authn/federation/strategy.js';
import { seal } from '../../src/platform/crypto/secrets.js';
import type { TestGatehouse } from './gatehouse.js';

/**
 * A SAML 2.0 identity provider for tests, made with samlify: it reads Gatehouse's
 * AuthnRequest from the redirect URL and answers with a Response that samlify signs (and, if
 * asked, encrypts) with a real key, for `samlp` connections (src/authn/federation/saml.ts).
 *
 * Each Response is built from the values given (audience, recipient, InResponseTo, times,
 * status…), so a test can make it wrong in exactly one way; samlify only signs and encrypts.
 *
 * Schema validation: samlify refuses to parse anything until a schema validator is set.
 * Here, and only here, it is one that accepts every document: what it parses is OUR
 * AuthnRequest, in a test; Gatehouse never uses samlify (node-saml checks what IdPs send).
 *
 * Keys: test/fixtures/saml/ (test-only PEMs, see its README).
 */

// samlify's own type declarations pull in the DOM library (via @xmldom/xmldom), whose fetch
// types clash with Node's; it is loaded untyped and described by the little used here.
interface SamlifyEntity {
  getMetadata(): string;
  entityMeta: {
    getEntityID(): string;
    getAssertionConsumerService(binding: 'post' | 'redirect'): string | string[];
    getX509Certificate(use: 'signing' | 'encryption'): string | string[] | null;
    isAuthnRequestSigned(): boolean;
    isWantAssertionsSigned(): boolean;
  };
}
interface Samlify {
  setSchemaValidator(validator: { validate: (xml: string) => Promise<unknown> }): void;
  IdentityProvider(settings: Record<string, unknown>): SamlifyEntity & {
    parseLoginRequest(
      sp: SamlifyEntity,
      binding: 'redirect',
      request: { query: Record<string, string>; octetString: string },
    ): Promise<{
      extract: { request: { id: string; assertionConsumerServiceUrl?: string }; issuer: string; nameIDPolicy?: { format?: string } };
      samlContent: string;
    }>;
    createLoginResponse(
      sp: SamlifyEntity,
      requestInfo: Record<string, unknown>,
      binding: 'post',
      user: Record<string, unknown>,
      options: { customTagReplacement: (template: string) => { id: string; context: string }; encryptThenSign: boolean },
    ): Promise<{ context: string }>;
  };
  ServiceProvider(settings: Record<string, unknown>): SamlifyEntity;
}
const samlify = createRequire(import.meta.url)('samlify') as Samlify;
samlify.setSchemaValidator({ validate: async () => 'accepted: test IdP only, it parses our own AuthnRequest' });

const fixture = (name: string) => readFileSync(new URL(`../fixtures/saml/${name}`, import.meta.url), 'utf8');
/** A test key pair of test/fixtures/saml/: `idp`, `idp-other`, `sp-signing`, `sp-encryption`. */
export const samlKeys = (name: 'idp' | 'idp-other' | 'sp-signing' | 'sp-encryption') => ({
  key: fixture(`${name}.key`),
  cert: fixture(`${name}.crt`),
});

const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
export const NAMEID_TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  authnFailed: 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed',
  requestDenied: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied',
} as const;

/** An SP's metadata as an IdP reads it (samlify's metadata parser): what an administrator's IdP would register. */
export function readSpMetadata(xml: string) {
  const meta = samlify.ServiceProvider({ metadata: xml }).entityMeta;
  const list = (value: string | string[] | null) => (value ? [value].flat().map((c) => c.replace(/\s+/g, '')) : []);
  return {
    entityId: meta.getEntityID(),
    acs: [meta.getAssertionConsumerService('post')].flat(),
    signingCerts: list(meta.getX509Certificate('signing')),
    encryptionCerts: list(meta.getX509Certificate('encryption')),
    authnRequestsSigned: meta.isAuthnRequestSigned(),
    wantAssertionsSigned: meta.isWantAssertionsSigned(),
  };
}

/** A PEM certificate's base64 body, as metadata carries it. */
export const certBody = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

export interface ResponseOptions {
  /** The AuthnRequest's id; null: no InResponseTo at all (an IdP-initiated Response). */
  inResponseTo: string | null;
  /** The SP entity id (Audience). */
  audience: string;
  /** The ACS: SubjectConfirmationData Recipient, and the Response's Destination unless `destination` says otherwise. */
  recipient: string;
  /** The Response's Destination; null: none. */
  destination?: string | null;
  nameId: string;
  nameIdFormat?: string;
  /** Attribute name → value(s); several values become several AttributeValue elements. */
  attributes?: Record<string, string | string[]>;
  authnContext?: string;
  /** What samlify signs: the assertion (default), the Response, both, or nothing. */
  sign?: 'assertion' | 'response' | 'both' | 'none';
  /** An SP encryption certificate (PEM): the assertion is encrypted for it. */
  encryptFor?: string;
  issuer?: string;
  assertionId?: string;
  /** Default: now − 1 min … now + 5 min. */
  notBefore?: Date;
  notOnOrAfter?: Date;
  status?: string;
  subStatus?: string;
}

export interface TestIdp {
  entityId: string;
  ssoUrl: string;
  /** The IdP's metadata (entityID, SingleSignOnService, signing certificate). */
  metadataXml: string;
  cert: string;
  /**
   * The AuthnRequest in a redirect URL (HTTP-Redirect binding), parsed by samlify. With
   * `spSigningCert` its signature (SigAlg/Signature) must verify with that certificate.
   */
  readRequest(
    url: string,
    spSigningCert?: string,
  ): Promise<{ id: string; issuer: string; acs?: string; relayState: string | null; signed: boolean; xml: string }>;
  /** A base64 SAMLResponse (HTTP-POST binding), as the IdP would POST it to the ACS. */
  response(options: ResponseOptions): Promise<string>;
}

const xmlEscape = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const newId = () => `_${randomBytes(16).toString('hex')}`;

/**
 * A test IdP. `key` picks its signing key pair (`idp-other` signs with a key that another
 * IdP's metadata does not name); `entityId` and `ssoUrl` are what its metadata says.
 */
export function createTestIdp(
  options: { entityId?: string; ssoUrl?: string; key?: 'idp' | 'idp-other'; ssoBinding?: 'redirect' | 'post' } = {},
): TestIdp {
  const entityId = options.entityId ?? 'https://idp.test/saml';
  const ssoUrl = options.ssoUrl ?? 'https://idp.test/saml/sso';
  const { key, cert } = samlKeys(options.key ?? 'idp');
  const idpSettings = {
    entityID: entityId,
    privateKey: key,
    signingCert: cert,
    singleSignOnService: [{ Binding: options.ssoBinding === 'post' ? POST : REDIRECT, Location: ssoUrl }],
    singleLogoutService: [{ Binding: REDIRECT, Location: `${ssoUrl}/logout` }],
    nameIDFormat: [NAMEID_PERSISTENT],
  };
  const idp = samlify.IdentityProvider(idpSettings);

  return {
    entityId,
    ssoUrl,
    cert,
    metadataXml: idp.getMetadata(),

    async readRequest(url, spSigningCert) {
      const raw = new URL(url).search.slice(1).split('&');
      const param = (name: string) => raw.find((p) => p.startsWith(`${name}=`))?.slice(name.length + 1);
      // The signed octets are the parameters as sent (still URL-encoded); samlify wants the values decoded.
      const names = ['SAMLRequest', 'RelayState', 'SigAlg', 'Signature'].filter((n) => param(n) !== undefined);
      const query = Object.fromEntries(names.map((n) => [n, decodeURIComponent(param(n) as string)]));
      const octetString = names
        .filter((n) => n !== 'Signature')
        .map((n) => `${n}=${param(n)}`)
        .join('&');
      const checking = samlify.IdentityProvider({ ...idpSettings, wantAuthnRequestsSigned: Boolean(spSigningCert) });
      const sp = samlify.ServiceProvider({
        entityID: 'read-only',
        assertionConsumerService: [{ Binding: POST, Location: 'https://sp.test/acs' }],
        ...(spSigningCert && { signingCert: spSigningCert, authnRequestsSigned: true }),
      });
      const parsed = await checking.parseLoginRequest(sp, 'redirect', { query, octetString });
      const relayState = query.RelayState ?? null;
      return {
        id: parsed.extract.request.id,
        issuer: parsed.extract.issuer,
        ...(parsed.extract.request.assertionConsumerServiceUrl && { acs: parsed.extract.request.assertionConsumerServiceUrl }),
        relayState,
        signed: query.Signature !== undefined,
        xml: parsed.samlContent,
      };
    },

    async response(o) {
      const sign = o.sign ?? 'assertion';
      const now = Date.now();
      const notBefore = (o.notBefore ?? new Date(now - 60_000)).toISOString();
      const notOnOrAfter = (o.notOnOrAfter ?? new Date(now + 5 * 60_000)).toISOString();
      const issued = new Date(Math.min(now, Date.parse(notBefore) + 60_000)).toISOString();
      const issuer = xmlEscape(o.issuer ?? entityId);
      const irt = o.inResponseTo === null ? '' : ` InResponseTo="${xmlEscape(o.inResponseTo)}"`;
      const destination = o.destination === null ? '' : ` Destination="${xmlEscape(o.destination ?? o.recipient)}"`;
      const status = o.status ?? STATUS.success;
      const statusXml = `<samlp:Status><samlp:StatusCode Value="${status}">${
        o.subStatus ? `<samlp:StatusCode Value="${o.subStatus}"/>` : ''
      }</samlp:StatusCode></samlp:Status>`;
      const attributes = Object.entries(o.attributes ?? {})
        .map(
          ([name, values]) =>
            `<saml:Attribute Name="${xmlEscape(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified">${[values]
              .flat()
              .map((v) => `<saml:AttributeValue xsi:type="xs:string">${xmlEscape(v)}</saml:AttributeValue>`)
              .join('')}</saml:Attribute>`,
        )
        .join('');
      const assertion =
        status !== STATUS.success
          ? ''
          : `<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${
              o.assertionId ?? newId()
            }" Version="2.0" IssueInstant="${issued}"><saml:Issuer>${issuer}</saml:Issuer><saml:Subject><saml:NameID Format="${
              o.nameIdFormat ?? NAMEID_PERSISTENT
            }">${xmlEscape(o.nameId)}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${notOnOrAfter}" Recipient="${xmlEscape(
              o.recipient,
            )}"${irt}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${xmlEscape(
              o.audience,
            )}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="${issued}" SessionIndex="${newId()}"><saml:AuthnContext><saml:AuthnContextClassRef>${xmlEscape(
              o.authnContext ?? 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
            )}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>${
              attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : ''
            }</saml:Assertion>`;
      const id = newId();
      const xml = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="${issued}"${destination}${irt}><saml:Issuer>${issuer}</saml:Issuer>${statusXml}${assertion}</samlp:Response>`;

      const encrypt = Boolean(o.encryptFor) && assertion !== '';
      const sp = samlify.ServiceProvider({
        entityID: o.audience,
        assertionConsumerService: [{ Binding: POST, Location: o.recipient }],
        wantAssertionsSigned: assertion !== '' && (sign === 'assertion' || sign === 'both' || sign === 'none'),
        wantMessageSigned: sign === 'response' || sign === 'both',
        ...(encrypt && { encryptCert: o.encryptFor }),
      });
      const signer = encrypt ? samlify.IdentityProvider({ ...idpSettings, isAssertionEncrypted: true }) : idp;
      const { context } = await signer.createLoginResponse(
        sp,
        {},
        'post',
        {},
        { customTagReplacement: () => ({ id, context: xml }), encryptThenSign: true },
      );
      if (sign !== 'none') return context;
      const unsigned = Buffer.from(context, 'base64')
        .toString('utf8')
        .replace(/<ds:Signature[\s\S]*?<\/ds:Signature>/g, '');
      return Buffer.from(unsigned).toString('base64');
    },
  };
}

/** A samlp connection stored as the admin API would store it (secrets sealed). */
export async function addSamlConnection(
  gh: TestGatehouse,
  name: string,
  options: Record<string, unknown>,
  secrets: Record<string, string> = {},
  strategy = 'samlp',
): Promise<Connection> {
  const id = `con_${randomBytes(16).toString('hex')}`;
  await gh.ctx.db
    .insertInto('connections')
    .values({
      id,
      tenant_id: null,
      name,
      strategy,
      display_name: name,
      options: JSON.stringify(options),
      secrets_sealed: Object.keys(secrets).length ? seal(gh.ctx.masterKey, JSON.stringify(secrets), secretsContext(id)) : null,
      enabled_clients: JSON.stringify([]),
      domains: JSON.stringify([]),
      mapping: JSON.stringify([]),
      attributes: JSON.stringify({}),
      updated_at: new Date(),
    } as never)
    .execute();
  return (await connectionByName(gh.ctx, name)) as Connection;
}

/** What the served IdP answers for each AuthnRequest: the person, and anything to make wrong on purpose. */
export type Answer = Partial<Omit<ResponseOptions, 'inResponseTo' | 'audience' | 'recipient'>> & { nameId: string };

export interface TestIdpServer extends TestIdp {
  /** `http://127.0.0.1:{port}/metadata`: the IdP's metadata, for `options.metadataUrl`. */
  metadataUrl: string;
  /** The person the IdP signs in at the next request (change it between sign-ins). */
  answer: Answer;
  /** The AuthnRequests it received, parsed. */
  requests: Awaited<ReturnType<TestIdp['readRequest']>>[];
  close(): Promise<void>;
}

/**
 * The test IdP served on 127.0.0.1, as a browser meets a real one: `GET /sso?SAMLRequest=…`
 * (the redirect Gatehouse's `start` returns) answers at once, without a login form, with the
 * HTML page that POSTs the signed Response and the RelayState to the ACS the AuthnRequest
 * names (its AssertionConsumerServiceURL; the Audience is its Issuer). `GET /metadata`
 * serves the metadata. For the flow's tests and the browser tests.
 */
export async function startTestIdpServer(options: { key?: 'idp' | 'idp-other'; answer?: Answer } = {}): Promise<TestIdpServer> {
  const { createServer } = await import('node:http');
  let idp: TestIdp | undefined;
  const requests: TestIdpServer['requests'] = [];
  const self = { answer: options.answer ?? { nameId: 'test-user' } } as TestIdpServer;
  const server = createServer(async (request, response) => {
    try {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (!idp) throw new Error('not ready');
      if (url.pathname === '/metadata') {
        response.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(idp.metadataXml);
        return;
      }
      if (url.pathname !== '/sso') {
        response.writeHead(404).end();
        return;
      }
      const authnRequest = await idp.readRequest(`http://127.0.0.1${request.url}`);
      requests.push(authnRequest);
      if (!authnRequest.acs) throw new Error('the AuthnRequest names no AssertionConsumerServiceURL');
      const saml = await idp.response({
        ...self.answer,
        inResponseTo: authnRequest.id,
        audience: authnRequest.issuer,
        recipient: authnRequest.acs,
      });
      const field = (name: string, value: string) => `<input type="hidden" name="${name}" value="${xmlEscape(value)}">`;
      response
        .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
        .end(
          `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${xmlEscape(authnRequest.acs)}">${field(
            'SAMLResponse',
            saml,
          )}${authnRequest.relayState === null ? '' : field('RelayState', authnRequest.relayState)}<noscript><button>Continue</button></noscript></form></body></html>`,
        );
    } catch (error) {
      response.writeHead(400, { 'content-type': 'text/plain' }).end(`test IdP: ${(error as Error).message}`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  idp = createTestIdp({ entityId: `${base}/metadata`, ssoUrl: `${base}/sso`, key: options.key ?? 'idp' });
  return Object.assign(self, idp, {
    metadataUrl: `${base}/metadata`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** The form the served IdP's page POSTs: its action (the ACS) and fields (SAMLResponse, RelayState). */
export function postedForm(html: string): { action: string; fields: Record<string, string> } {
  const unescapeXml = (v: string) =>
    v
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  const action = unescapeXml(html.match(/<form method="post" action="([^"]*)"/)?.[1] ?? '');
  const fields = Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], unescapeXml(m[2] as string)]),
  );
  return { action, fields };
}
