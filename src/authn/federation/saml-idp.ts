import { createHash, X509Certificate } from 'node:crypto';
import type { AppContext } from '../../platform/context.js';
import { applicationDestinations } from '../../platform/http/destinations.js';
import { checkedFetch } from '../../platform/http/outbound.js';
import { BINDING, certificatePem, elements, parseXml, texts, type XmlElement } from './saml-xml.js';
import { type Connection, FederationError } from './strategy.js';

/**
 * What Gatehouse needs to know of a SAML identity provider, from its metadata
 * (`options.metadataUrl` or `options.metadataXml`), with Auth0's overrides
 * `options.signInEndpoint` and `options.signingCert` (decision 252).
 */
export interface IdpSettings {
  /** The IdP's entityID: an assertion's Issuer must be this (undefined only without metadata). */
  entityId?: string;
  /** Where the AuthnRequest goes (SingleSignOnService, HTTP-Redirect preferred). */
  ssoUrl: string;
  /** The certificates whose keys may sign a response or an assertion (more than one during a rollover). */
  certs: string[];
}

const METADATA_TIMEOUT_MS = 10_000;
/** Fetched metadata is reused this long per connection and options, then fetched again. */
export const METADATA_TTL_MS = 5 * 60_000;
const CACHE_LIMIT = 200;
const cache = new Map<string, { until: number; settings: IdpSettings }>();
/** Bumped by every drop: metadata fetched before a drop is not kept after it. */
let generation = 0;

/**
 * Forgets every IdP's metadata: a connection changed on some node (the change feed calls
 * this on every node), and an administrator saving it is how they make Gatehouse fetch it again.
 */
export function forgetIdpMetadata(): void {
  generation++;
  cache.clear();
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() ? value.trim() : undefined);

/** The settings of the connection's IdP: from the cache, or from its metadata and overrides. */
export async function idpSettings(ctx: AppContext, connection: Connection): Promise<IdpSettings> {
  const key = createHash('sha256').update(connection.id).update('\0').update(JSON.stringify(connection.options)).digest('hex');
  const now = ctx.clock.now().getTime();
  const hit = cache.get(key);
  if (hit && hit.until > now) return hit.settings;
  const begun = generation;
  const settings = await load(ctx, connection.options);
  if (begun !== generation) return settings;
  cache.delete(key);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(key, { until: now + METADATA_TTL_MS, settings });
  return settings;
}

async function load(ctx: AppContext, options: Record<string, unknown>): Promise<IdpSettings> {
  const signInEndpoint = text(options.signInEndpoint);
  const signingCert = text(options.signingCert);
  const metadata = await metadataXml(ctx, options);
  if (!metadata) {
    if (!signInEndpoint || !signingCert) {
      throw new FederationError('misconfigured', 'samlp needs metadataUrl or metadataXml (or both signInEndpoint and signingCert)');
    }
    return { ssoUrl: httpsUrl(signInEndpoint), certs: [pemOf(signingCert)] };
  }
  const read = readIdpMetadata(metadata);
  return {
    entityId: read.entityId,
    ssoUrl: signInEndpoint ? httpsUrl(signInEndpoint) : read.ssoUrl,
    certs: signingCert ? [pemOf(signingCert)] : read.certs,
  };
}

async function metadataXml(ctx: AppContext, options: Record<string, unknown>): Promise<string | undefined> {
  const inline = text(options.metadataXml);
  if (inline) return inline;
  const url = text(options.metadataUrl);
  if (!url) return undefined;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new FederationError('misconfigured', 'metadataUrl is not an http(s) URL');
  }
  const fetch = checkedFetch(applicationDestinations(ctx.config), METADATA_TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' } });
  } catch (error) {
    throw new FederationError('unreachable', `SAML metadata: ${(error as Error).message}`);
  }
  if (!response.ok) throw new FederationError('unreachable', `SAML metadata: HTTP ${response.status} from ${new URL(url).origin}`);
  return response.text();
}

/** The IdP's entityID, SSO location and signing certificates, read from its metadata document. */
export function readIdpMetadata(xml: string): Required<IdpSettings> {
  let doc: ReturnType<typeof parseXml>;
  try {
    doc = parseXml(xml);
  } catch (error) {
    throw new FederationError('misconfigured', `SAML metadata: ${(error as Error).message}`);
  }
  const entities = elements(doc, '//md:EntityDescriptor[md:IDPSSODescriptor]');
  if (entities.length !== 1) {
    throw new FederationError('misconfigured', `SAML metadata describes ${entities.length} identity providers, not one`);
  }
  const entity = entities[0] as XmlElement;
  const entityId = entity.getAttribute('entityID') ?? '';
  if (!entityId) throw new FederationError('misconfigured', 'SAML metadata: the EntityDescriptor has no entityID');
  const idp = elements(entity, "md:IDPSSODescriptor[contains(@protocolSupportEnumeration, 'urn:oasis:names:tc:SAML:2.0:protocol')]")[0];
  if (!idp) throw new FederationError('misconfigured', 'SAML metadata: no IDPSSODescriptor for SAML 2.0');
  const sso = (binding: string) => elements(idp, `md:SingleSignOnService[@Binding='${binding}']`)[0]?.getAttribute('Location');
  const location = sso(BINDING.redirect) || sso(BINDING.post);
  if (!location)
    throw new FederationError('misconfigured', 'SAML metadata: no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding');
  const certs = texts(idp, "md:KeyDescriptor[not(@use) or @use='signing']/ds:KeyInfo/ds:X509Data/ds:X509Certificate").map((body) =>
    pemOf(body),
  );
  if (certs.length === 0) throw new FederationError('misconfigured', 'SAML metadata: no signing certificate');
  return { entityId, ssoUrl: httpsUrl(location), certs: [...new Set(certs)] };
}

/** A certificate given as PEM, as base64 of a PEM (Auth0's `signingCert`), or as the base64 DER body; checked to parse. */
function pemOf(given: string): string {
  let pem = given;
  if (!given.includes('BEGIN CERTIFICATE')) {
    const decoded = Buffer.from(given.replace(/\s+/g, ''), 'base64').toString('latin1');
    pem = decoded.includes('BEGIN CERTIFICATE') ? decoded : certificatePem(given);
  }
  try {
    return new X509Certificate(pem).toString();
  } catch {
    throw new FederationError('misconfigured', 'a SAML signing certificate does not parse');
  }
}

function httpsUrl(value: string): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new FederationError('misconfigured', 'the SAML sign-in endpoint is not an http(s) URL');
  }
  return value;
}
