import { createRequire } from 'node:module';

/**
 * Reading SAML XML that is not a signature: IdP metadata, and the parts of an assertion that
 * node-saml has already verified (decision 251). Nothing here checks or makes a signature;
 * that is node-saml's (xml-crypto, xml-encryption).
 */

export const NS = {
  md: 'urn:oasis:names:tc:SAML:2.0:metadata',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
} as const;

export const BINDING = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
} as const;

/**
 * The few DOM members used here. xmldom's and xpath's own type declarations pull in the DOM
 * library (`/// <reference lib="dom" />`), whose fetch types clash with Node's, so both are
 * loaded untyped and described by these.
 */
export interface XmlElement {
  readonly localName: string;
  readonly namespaceURI: string | null;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
}
export interface XmlDocument {
  readonly documentElement: XmlElement | null;
}
type XmlNode = XmlElement | XmlDocument;

const require = createRequire(import.meta.url);
const { DOMParser } = require('@xmldom/xmldom') as {
  DOMParser: new (options: {
    errorHandler: Record<'warning' | 'error' | 'fatalError', (message: string) => void>;
  }) => {
    parseFromString(text: string, mimeType: string): XmlDocument | undefined;
  };
};
const xpath = require('xpath') as {
  useNamespaces(map: Record<string, string>): (expression: string, node: XmlNode) => unknown;
};
const select = xpath.useNamespaces(NS);
/** An element node (DOM nodeType 1). */
const isElement = (node: unknown): node is XmlElement => (node as { nodeType?: number } | null)?.nodeType === 1;

/**
 * Parses XML or throws: a document with a DOCTYPE is refused outright (no entity of any kind
 * is expanded), and so is anything xmldom calls an error rather than leaving half a tree.
 */
export function parseXml(text: string): XmlDocument & { documentElement: XmlElement } {
  if (/<!DOCTYPE/i.test(text)) throw new Error('XML with a DOCTYPE is refused');
  const fail = (message: string) => {
    throw new Error(`not well-formed XML: ${message.split('\n')[0]}`);
  };
  const doc = new DOMParser({ errorHandler: { warning: () => {}, error: fail, fatalError: fail } }).parseFromString(text, 'text/xml');
  if (!doc?.documentElement) throw new Error('not an XML document');
  return doc as XmlDocument & { documentElement: XmlElement };
}

/** The elements an XPath (prefixes md, ds, saml, samlp) selects under `node`. */
export function elements(node: XmlNode, path: string): XmlElement[] {
  const found = select(path, node);
  return Array.isArray(found) ? found.filter(isElement) : [];
}

/** The trimmed text of the elements an XPath selects. */
export const texts = (node: XmlNode, path: string): string[] =>
  elements(node, path)
    .map((e) => (e.textContent ?? '').trim())
    .filter(Boolean);

/** A certificate as PEM, from metadata's base64 body (whitespace anywhere). */
export const certificatePem = (base64: string): string =>
  `-----BEGIN CERTIFICATE-----\n${(base64.replace(/\s+/g, '').match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
