import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { catalogOf, translator } from '../../../src/flows/kit/messages.js';
import { LOCALES, pickLocale } from '../../../src/platform/i18n/index.js';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

/** Keys whose German is rightly the same word as the English one. */
const SAME_IN_GERMAN = new Set(['common.code', 'passwordless.code_label', 'signup.optional', 'account.factor_webauthn', 'home.title']);

// The flows' catalog holds every area: the platform's words (src/platform/i18n) and each flow's own.
describe('the message catalog', () => {
  const en = catalogOf('en');

  it('has every key in every locale, non-empty, with the same placeholders', () => {
    assert.ok(Object.keys(en).length > 100, 'the catalog holds the pages’ and emails’ words');
    for (const locale of LOCALES) {
      const messages = catalogOf(locale);
      assert.deepEqual(Object.keys(messages).sort(), Object.keys(en).sort(), `${locale} names every key`);
      for (const [key, text] of Object.entries(messages)) {
        assert.ok(text.trim().length > 0, `${locale} ${key} is not empty`);
        assert.deepEqual(placeholders(text), placeholders(en[key] as string), `${locale} ${key} has the English placeholders`);
      }
    }
  });

  it('has a German text that is a translation, not a copy of the English one', () => {
    const de = catalogOf('de');
    const copies = Object.keys(en).filter((key) => de[key] === en[key] && !SAME_IN_GERMAN.has(key));
    assert.deepEqual(copies, []);
  });

  it('fills placeholders and falls back to English, then the key', () => {
    const t = translator('de');
    assert.equal(t('signin.to_continue', { client: 'Acme' }), 'um mit Acme fortzufahren');
    assert.equal(t('common.error_code', {}), 'Fehlercode: {code}', 'an unknown value leaves its placeholder');
    assert.equal(t('no.such.key' as never), 'no.such.key');
  });
});

describe('pickLocale', () => {
  it('takes ui_locales first (its first supported tag), then the user’s locale, then Accept-Language, then English', () => {
    assert.equal(pickLocale({ uiLocales: 'de', userLocale: 'en', acceptLanguage: 'en' }), 'de');
    assert.equal(pickLocale({ uiLocales: 'fr-CA de-AT en', userLocale: 'en' }), 'de', 'an unsupported tag is skipped');
    assert.equal(pickLocale({ uiLocales: 'fr', userLocale: 'de', acceptLanguage: 'en' }), 'de', 'then the user’s locale');
    assert.equal(pickLocale({ userLocale: 'de_CH', acceptLanguage: 'en' }), 'de');
    assert.equal(pickLocale({ userLocale: 'fr', acceptLanguage: 'de-DE,de;q=0.9,en;q=0.8' }), 'de', 'then Accept-Language');
    assert.equal(pickLocale({}), 'en');
    assert.equal(pickLocale({ acceptLanguage: 'fr, ja' }), 'en', 'nothing supported: English');
  });

  it('ranks Accept-Language by q-value, ties in the header’s order, and ignores q=0', () => {
    assert.equal(pickLocale({ acceptLanguage: 'en;q=0.5, de;q=0.8' }), 'de');
    assert.equal(pickLocale({ acceptLanguage: 'fr;q=1, de;q=0.7, en;q=0.7' }), 'de');
    assert.equal(pickLocale({ acceptLanguage: 'de;q=0, en;q=0.1' }), 'en');
    assert.equal(pickLocale({ acceptLanguage: 'de;q=0' }), 'en');
    assert.equal(pickLocale({ acceptLanguage: 'de;q=abc, en' }), 'en', 'a broken q-value does not count');
  });
});

/**
 * A source scan: the markup of the page and email modules holds no words of its own (they
 * come from the catalog). Heuristic: in every template literal with markup (its `${…}`
 * parts taken out, and <style> and <script> blocks), a text node or a readable attribute
 * (alt, title, placeholder, aria-label) with two words, or one capitalized word, is English
 * left outside the catalog.
 */
const SCANNED = [
  ...(readdirSync('src/flows', { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => join('src/flows', f)),
  'src/platform/web/html.ts',
  'src/platform/web/pages.ts',
  'src/oauth/engine/pages.ts',
  'src/authn/protection/pages.ts',
  'src/platform/mail/templates.ts',
];
/** Text nodes that are not words to translate. */
const ALLOWED = new Set<string>([]);

function templatesOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isNoSubstitutionTemplateLiteral(node)) out.push(node.text);
    else if (ts.isTemplateExpression(node))
      out.push([node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join('\u0000'));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out.filter((text) => /<[a-z]/i.test(text));
}

function englishIn(template: string): string[] {
  const markup = template.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<script[\s\S]*?<\/script>/gi, '');
  const texts = [
    ...[...markup.matchAll(/>([^<>]*)</g)].map((m) => m[1] as string),
    ...[...markup.matchAll(/\b(?:alt|title|placeholder|aria-label)="([^"]*)"/g)].map((m) => m[1] as string),
  ];
  return texts
    .flatMap((text) => text.split('\u0000'))
    .map((text) => text.trim())
    .filter((text) => !ALLOWED.has(text))
    .filter((text) => /[A-Za-z]{2,}[\s,]+[A-Za-z]{2,}/.test(text) || /^[A-Z][a-z]{2,}[.!?]?$/.test(text));
}

describe('the page modules', () => {
  it('take every word from the catalog (no English sentence in their markup)', () => {
    const found = SCANNED.flatMap((file) => templatesOf(file).flatMap((template) => englishIn(template).map((text) => `${file}: ${text}`)));
    assert.deepEqual(found, []);
  });

  it('the scan finds English in markup', () => {
    assert.deepEqual(englishIn('<h1>Sign in</h1><p>\u0000</p>'), ['Sign in']);
    assert.deepEqual(englishIn('<button>Allow</button><img alt="QR code">'), ['Allow', 'QR code']);
    assert.deepEqual(englishIn('<h1>\u0000</h1><p>\u0000 · \u0000</p><style>a { border: 1px solid red }</style>'), []);
  });
});
