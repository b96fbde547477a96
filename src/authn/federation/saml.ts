import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type CacheProvider, generateServiceProviderMetadata, type Profile, SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Config } from '../../platform/config.js';
import type { AppContext } from '../../platform/context.js';
import { type IdpSettings, idpSettings } from './saml-idp.js';
import { assertionFacts, upstreamProfile } from './saml-profile.js';
import { elements, parseXml } from './saml-xml.js';
import { type Connection, FederationError, type RedirectStrategy } from './strategy.js';

/**
 * `samlp`: Gatehouse as a SAML 2.0 service provider (docs/federation.md#samlp, decisions
 * 250–256). node-saml makes the AuthnRequest and checks the Response: signatures,
 * decryption, audience, InResponseTo, NotBefore/NotOnOrAfter. Gatehouse adds what it leaves
 * out: the Issuer, the bearer Recipient and the Destination, the RelayState, and the replay
 * cache (each assertion id once, in the database, so every node knows).
 */

/** How far the IdP's clock may be from ours (NotBefore, NotOnOrAfter). */
export const CLOCK_SKEW_MS = 60_000;
/** An AuthnRequest is answered within the federation flow's lifetime (src/flows/kit/flows.ts) or not at all. */
const REQUEST_LIFETIME_MS = 15 * 60_000;
const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

/** The ACS: where the IdP POSTs the Response, one per connection (decision 250). */
export const acsUrl = (config: Pick<Config, 'issuer'>, connection: Pick<Connection, 'name'>): string =>
  `${config.issuer}/login/callback?connection=${encodeURIComponent(connection.name)}`;

/** The SP metadata's URL for the connection. */
export const metadataUrl = (config: Pick<Config, 'issuer'>, connection: Pick<Connection, 'name'>): string =>
  `${config.issuer}/samlp/metadata?connection=${encodeURIComponent(connection.name)}`;

/**
 * The SP entity id: `options.entityId` when set, else `urn:gatehouse:{issuer host}:{name}`,
 * unique per deployment and connection as Auth0's `urn:auth0:{tenant}:{connection}` (decision 250).
 */
export function spEntityId(config: Pick<Config, 'issuer'>, connection: Pick<Connection, 'name' | 'options'>): string {
  const given = connection.options.entityId;
  if (typeof given === 'string' && given.trim()) return given.trim();
  return `urn:gatehouse:${new URL(config.issuer).host}:${connection.name}`;
}

const str = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() ? value : undefined);

/** SP keys: each used only with its certificate, so what Gatehouse does matches what its metadata says. */
function spKeys(connection: Connection) {
  const signingCert = str(connection.options.signing_cert);
  const decryptionCert = str(connection.options.decryption_cert);
  const signingKey = signingCert && str(connection.secrets.signing_key);
  const decryptionKey = str(connection.secrets.decryption_key);
  return { signingCert, signingKey, decryptionCert, decryptionKey };
}

function samlFor(ctx: AppContext, connection: Connection, idp: IdpSettings, extra: Partial<ConstructorParameters<typeof SAML>[0]>) {
  const { signingKey, signingCert, decryptionKey } = spKeys(connection);
  const entityId = spEntityId(ctx.config, connection);
  return new SAML({
    entryPoint: idp.ssoUrl,
    issuer: entityId,
    audience: entityId,
    callbackUrl: acsUrl(ctx.config, connection),
    idpCert: idp.certs,
    identifierFormat: str(connection.options.nameid_format) ?? UNSPECIFIED,
    disableRequestedAuthnContext: true,
    // Decision 253: the Response OR the assertion signed by the IdP. With both false,
    // node-saml checks the Response's signature and, when there is none, requires the
    // assertion's (encrypted or not); its defaults (both true) would refuse Okta's and
    // Entra ID's default of signing one of them only.
    wantAuthnResponseSigned: false,
    wantAssertionsSigned: false,
    acceptedClockSkewMs: CLOCK_SKEW_MS,
    validateInResponseTo: ValidateInResponseTo.always,
    requestIdExpirationPeriodMs: REQUEST_LIFETIME_MS,
    signatureAlgorithm: 'sha256',
    ...(signingKey && { privateKey: signingKey, publicCert: signingCert }),
    ...(decryptionKey && { decryptionPvk: decryptionKey }),
    ...extra,
  });
}

/** A request-id store that knows the one AuthnRequest this flow sent (node-saml's InResponseTo check). */
function oneRequest(requestId: string | undefined, issuedAt: string | undefined): CacheProvider {
  return {
    saveAsync: async () => null,
    getAsync: async (key) => (requestId && key === requestId ? (issuedAt ?? null) : null),
    removeAsync: async () => null,
  };
}

const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

const invalid = (reason: string) => new FederationError('invalid_response', reason);

/** Status codes after which the person simply did not sign in (they cancelled, or the IdP said no to them). */
const DECLINED = ['urn:oasis:names:tc:SAML:2.0:status:AuthnFailed', 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied'];

/** The raw Response's envelope: refuses a failure status, a Destination that is not our ACS, an EncryptedAssertion we cannot open. */
function checkEnvelope(connection: Connection, xml: string, acs: string) {
  let doc: ReturnType<typeof parseXml>;
  try {
    doc = parseXml(xml);
  } catch (error) {
    throw invalid(`SAMLResponse: ${(error as Error).message}`);
  }
  const response = doc.documentElement;
  if (response.localName !== 'Response' || response.namespaceURI !== 'urn:oasis:names:tc:SAML:2.0:protocol') {
    throw invalid('SAMLResponse is not a samlp:Response');
  }
  const status = elements(response, 'samlp:Status/samlp:StatusCode')[0];
  const code = status?.getAttribute('Value') ?? '';
  if (!code.endsWith(':Success')) {
    const detail = elements(status ?? response, 'samlp:StatusCode')[0]?.getAttribute('Value') ?? '';
    const why = `the IdP answered ${code.split(':').pop() || 'no status'}${detail ? `/${detail.split(':').pop()}` : ''}`;
    throw new FederationError(DECLINED.includes(detail) ? 'cancelled' : 'provider_error', why);
  }
  const destination = response.getAttribute('Destination');
  if (destination && destination !== acs) throw invalid('the Response Destination is not this connection’s ACS');
  if (elements(response, 'saml:EncryptedAssertion').length > 0 && !spKeys(connection).decryptionKey) {
    throw new FederationError('misconfigured', 'the IdP encrypts assertions and the connection has no decryption_key');
  }
}

/**
 * Each assertion id once per connection, on every node (table saml_assertions, decision 255):
 * the row lives until the assertion could no longer be accepted anyway (its bearer
 * NotOnOrAfter plus the skew); the prune job deletes it after that.
 */
async function consumeAssertion(ctx: AppContext, connection: Connection, assertionId: string, expiresAt: Date) {
  const inserted = await ctx.db
    .insertInto('saml_assertions')
    .values({ connection_id: connection.id, assertion_id: assertionId, expires_at: expiresAt })
    .onConflict((oc) => oc.columns(['connection_id', 'assertion_id']).doNothing())
    .returning('assertion_id')
    .executeTakeFirst();
  if (!inserted) throw invalid('the assertion was already used (replay)');
}

export const samlStrategy: RedirectStrategy = {
  kind: 'redirect',

  // SAML has no standard login hint; `loginHint` is not sent.
  async start(ctx, connection, { state }) {
    const idp = await idpSettings(ctx, connection);
    const requestId = `_${randomBytes(20).toString('hex')}`;
    let url: string;
    try {
      const saml = samlFor(ctx, connection, idp, { generateUniqueId: () => requestId, cacheProvider: oneRequest(undefined, undefined) });
      url = await saml.getAuthorizeUrlAsync(state, undefined, {});
    } catch (error) {
      // A signing key that is not a usable private key, and the like: the administrator's to fix.
      throw new FederationError('misconfigured', `the AuthnRequest could not be made: ${(error as Error).message}`);
    }
    // node-saml compares the request's age with the system clock, so the time is the system's.
    return { url, saved: { requestId, relayState: state, issuedAt: new Date().toISOString() } };
  },

  async finish(ctx, connection, { params, saved }) {
    const acs = acsUrl(ctx.config, connection);
    const encoded = params.SAMLResponse;
    if (!encoded) throw invalid('no SAMLResponse');
    if (!saved.requestId || !saved.relayState) throw invalid('no AuthnRequest was sent in this flow');
    if (!sameText(params.RelayState ?? '', saved.relayState)) throw invalid('RelayState does not match');
    checkEnvelope(connection, Buffer.from(encoded, 'base64').toString('utf8'), acs);

    const idp = await idpSettings(ctx, connection);
    let profile: Profile | null;
    try {
      const saml = samlFor(ctx, connection, idp, { cacheProvider: oneRequest(saved.requestId, saved.issuedAt) });
      ({ profile } = await saml.validatePostResponseAsync({ SAMLResponse: encoded }));
    } catch (error) {
      throw invalid(`SAMLResponse refused: ${(error as Error).message}`);
    }
    if (!profile?.getAssertionXml) throw invalid('the Response holds no assertion');

    const facts = assertionFacts(profile.getAssertionXml());
    if (idp.entityId && facts.issuer !== idp.entityId) throw invalid('the assertion’s Issuer is not the IdP of this connection');
    const confirmation = facts.confirmations.find((c) => c.recipient === acs && c.inResponseTo === saved.requestId && c.notOnOrAfter);
    if (!confirmation) {
      throw invalid('no bearer SubjectConfirmation for this ACS (Recipient), this request (InResponseTo) with NotOnOrAfter');
    }
    if (!facts.id) throw invalid('the assertion has no ID');
    // Kept until no bearer confirmation of the assertion can be valid any more.
    const latest = Math.max(...facts.confirmations.map((c) => Date.parse(c.notOnOrAfter ?? '')).filter((t) => !Number.isNaN(t)));
    if (!Number.isFinite(latest)) throw invalid('NotOnOrAfter is not a date');
    const expiresAt = new Date(latest + CLOCK_SKEW_MS);
    const person = upstreamProfile(connection, profile, facts);
    await consumeAssertion(ctx, connection, facts.id, expiresAt);
    return person;
  },
};

/**
 * The SP metadata of a connection (GET /samlp/metadata?connection=NAME): entity id, the ACS
 * (HTTP-POST), and the signing and encryption certificates when the connection has them.
 */
export function spMetadata(ctx: AppContext, connection: Connection): string {
  const { signingCert, signingKey, decryptionCert, decryptionKey } = spKeys(connection);
  return generateServiceProviderMetadata({
    issuer: spEntityId(ctx.config, connection),
    callbackUrl: acsUrl(ctx.config, connection),
    identifierFormat: str(connection.options.nameid_format) ?? UNSPECIFIED,
    // Asks the IdP to sign assertions (finish accepts a signed Response too, decision 253).
    wantAssertionsSigned: true,
    signatureAlgorithm: 'sha256',
    ...(signingKey && signingCert && { privateKey: signingKey, publicCerts: [signingCert] }),
    ...(decryptionKey && decryptionCert && { decryptionPvk: decryptionKey, decryptionCert }),
  });
}
