import type { Profile } from '@node-saml/node-saml';
import { elements, parseXml, texts } from './saml-xml.js';
import { type Connection, FederationError, type UpstreamProfile } from './strategy.js';

/** A SAML assertion, as node-saml verified it, turned into the person (decision 254). */

const NAMEID = {
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
} as const;

/** Attribute names (in order of preference) that carry the email and names, as Okta, ADFS, Entra ID and the LDAP OIDs send them. */
const ATTRIBUTES = {
  email: [
    'email',
    'mail',
    'emailaddress',
    'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
    'urn:oid:0.9.2342.19200300.100.1.3',
  ],
  name: [
    'name',
    'displayName',
    'displayname',
    'http://schemas.microsoft.com/identity/claims/displayname',
    'urn:oid:2.16.840.1.113730.3.1.241',
    'cn',
  ],
  givenName: [
    'given_name',
    'givenName',
    'givenname',
    'firstName',
    'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
    'urn:oid:2.5.4.42',
  ],
  familyName: [
    'family_name',
    'familyName',
    'surname',
    'sn',
    'lastName',
    'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
    'urn:oid:2.5.4.4',
  ],
} as const;

/**
 * AuthnContextClassRef values (or Entra ID's authnmethodsreferences attribute values) that
 * say the IdP used more than one factor: Entra ID / ADFS,
 * the SAML 2.0 classes for two-factor contracts, and REFEDS MFA. Anything else (password,
 * PasswordProtectedTransport, Kerberos, X509…) is one factor.
 */
export const MFA_CONTEXTS = [
  'http://schemas.microsoft.com/claims/multipleauthn',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken',
  'https://refeds.org/profile/mfa',
  'http://id.incommon.org/assurance/mfa',
] as const;

/** Entra ID says how the person signed in in this attribute (`…/multipleauthn` after MFA), not in the AuthnContextClassRef. */
const AUTHN_METHODS = 'http://schemas.microsoft.com/claims/authnmethodsreferences';

const first = (value: unknown): string | undefined => {
  const one = Array.isArray(value) ? value[0] : value;
  return typeof one === 'string' && one.trim() ? one.trim() : undefined;
};

/** The first attribute of `names` that has a value, compared case-sensitively first, then case-insensitively. */
function attribute(attributes: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = first(attributes[name]);
    if (value) return value;
  }
  const lower = new Map(Object.entries(attributes).map(([k, v]) => [k.toLowerCase(), v]));
  for (const name of names) {
    const value = first(lower.get(name.toLowerCase()));
    if (value) return value;
  }
  return undefined;
}

/** What the checks and the profile read from the verified assertion's XML. */
export interface AssertionFacts {
  id: string;
  issuer: string | undefined;
  /** Bearer SubjectConfirmationData: Recipient, InResponseTo, NotOnOrAfter of each. */
  confirmations: { recipient: string | null; inResponseTo: string | null; notOnOrAfter: string | null }[];
  authnContexts: string[];
}

/** Reads the verified assertion (node-saml's `getAssertionXml()`: the signed bytes, never the unsigned envelope). */
export function assertionFacts(xml: string): AssertionFacts {
  const doc = parseXml(xml);
  const assertion = doc.documentElement;
  const bearer = "saml:Subject/saml:SubjectConfirmation[@Method='urn:oasis:names:tc:SAML:2.0:cm:bearer']/saml:SubjectConfirmationData";
  return {
    id: assertion.getAttribute('ID') ?? '',
    issuer: texts(assertion, 'saml:Issuer')[0],
    confirmations: elements(assertion, bearer).map((data) => ({
      recipient: data.getAttribute('Recipient'),
      inResponseTo: data.getAttribute('InResponseTo'),
      notOnOrAfter: data.getAttribute('NotOnOrAfter'),
    })),
    authnContexts: texts(assertion, 'saml:AuthnStatement/saml:AuthnContext/saml:AuthnContextClassRef'),
  };
}

/**
 * The person: subject from a persistent NameID, else from `options.user_id_attribute` when
 * set, else the NameID unless it is transient (a new one each time: it would make a new
 * person each time). `emailVerified` only when the administrator says the IdP's emails are
 * verified (`options.emails_verified: true`): SAML has no standard flag for it.
 */
export function upstreamProfile(connection: Connection, profile: Profile, facts: AssertionFacts): UpstreamProfile {
  const attributes = (profile.attributes ?? {}) as Record<string, unknown>;
  const nameId = profile.nameID?.trim();
  const format = profile.nameIDFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
  const idAttribute = typeof connection.options.user_id_attribute === 'string' ? connection.options.user_id_attribute : undefined;
  let subject: string | undefined;
  if (nameId && format === NAMEID.persistent) subject = nameId;
  else if (idAttribute) {
    subject = first(attributes[idAttribute]);
    if (!subject) throw new FederationError('invalid_response', `the assertion has no attribute ${idAttribute} (user_id_attribute)`);
  } else if (format === NAMEID.transient) {
    throw new FederationError('misconfigured', 'the IdP sends a transient NameID; set user_id_attribute or ask it for a persistent NameID');
  } else subject = nameId;
  if (!subject) throw new FederationError('invalid_response', 'the assertion names no subject');
  const email = attribute(attributes, ATTRIBUTES.email) ?? (format === NAMEID.email ? nameId : undefined);
  return {
    subject,
    provider: 'samlp',
    ...(email?.includes('@') && { email }),
    emailVerified: connection.options.emails_verified === true && Boolean(email?.includes('@')),
    ...optional('name', attribute(attributes, ATTRIBUTES.name)),
    ...optional('givenName', attribute(attributes, ATTRIBUTES.givenName)),
    ...optional('familyName', attribute(attributes, ATTRIBUTES.familyName)),
    claims: {
      ...attributes,
      nameID: nameId,
      nameIDFormat: format,
      ...(facts.authnContexts.length > 0 && { authnContextClassRef: facts.authnContexts }),
    },
    mfa: [...facts.authnContexts, ...[attributes[AUTHN_METHODS] ?? []].flat()].some((c) =>
      (MFA_CONTEXTS as readonly string[]).includes(c as string),
    ),
  };
}

const optional = <K extends string>(key: K, value: string | undefined) => (value ? ({ [key]: value } as Record<K, string>) : {});
