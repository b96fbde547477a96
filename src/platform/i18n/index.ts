import { COMMON } from './messages/common.js';
import { EMAILS } from './messages/emails.js';
import { MFA } from './messages/mfa.js';
import { SIGN_IN } from './messages/sign-in.js';

/**
 * Every string a person reads on a hosted page or in an email comes from a catalog (issue 5,
 * part 8). Each area keeps its messages in one file as one object per locale; the German
 * object must name every English key (the type says so), so a missing translation is a
 * compile error, not a blank on a page. Each layer has the catalog of its own words: this
 * one holds the words of the frame, the sign-in and MFA pages, the engine's pages and the
 * emails (`PLATFORM_AREAS`); a flow owns its messages in its folder, and src/flows/kit/messages.ts
 * adds them to these (docs/decisions.md, decision 226).
 *
 * Placeholders are `{name}`; values are plain text (pages escape them, emails' HTML part too).
 */
export const LOCALES = ['en', 'de'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en';

/** One area's messages: an object per locale, each naming every key of the English one. */
export type Area = { readonly [L in Locale]: Readonly<Record<string, string>> };
/** The keys of an area (of a union of areas): those of its English object. */
export type KeysOf<A> = A extends { en: infer E } ? keyof E & string : never;

export type Translate<K extends string = MessageKey> = (key: K, vars?: Record<string, string | number>) => string;

/** A catalog: its areas merged, by locale. */
export interface Catalog<K extends string> {
  /** The messages of one locale; an unknown key falls back to English, then to the key itself. */
  translator(locale: Locale): Translate<K>;
  /** Every message of a locale, by key (for the catalog's own checks). */
  messages(locale: Locale): Readonly<Record<string, string>>;
}

export function catalog<A extends readonly Area[]>(areas: A): Catalog<KeysOf<A[number]>> {
  const merged: Record<Locale, Record<string, string>> = { en: {}, de: {} };
  for (const area of areas) {
    for (const locale of LOCALES) Object.assign(merged[locale], area[locale]);
  }
  return {
    translator(locale) {
      const messages = merged[locale];
      return (key, vars) => {
        const template = messages[key] ?? merged.en[key] ?? key;
        return vars ? template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole)) : template;
      };
    },
    messages: (locale) => merged[locale],
  };
}

/** The areas of the words below the flows: the frame and generic errors, the sign-in, MFA and engine pages, the emails. */
export const PLATFORM_AREAS = [COMMON, SIGN_IN, MFA, EMAILS] as const;
export type MessageKey = KeysOf<(typeof PLATFORM_AREAS)[number]>;

const PLATFORM = catalog(PLATFORM_AREAS);
/** The messages of one locale of the platform's catalog. */
export const translator = PLATFORM.translator;
/** Every message of a locale of the platform's catalog, by key. */
export const catalogOf = PLATFORM.messages;

/** A supported locale for a language tag (`de-AT` → `de`), or undefined. */
export function supportedLocale(tag: string | null | undefined): Locale | undefined {
  const language = tag?.trim().toLowerCase().split(/[-_]/)[0];
  return LOCALES.find((locale) => locale === language);
}

/**
 * The locale of a page or email: the application's `ui_locales` (OIDC, space-separated, in
 * order of preference), then the user's `locale`, then the browser's `Accept-Language`
 * (by q-value), then English.
 */
export function pickLocale(sources: { uiLocales?: string | null; userLocale?: string | null; acceptLanguage?: string | null }): Locale {
  for (const tag of sources.uiLocales?.split(/\s+/) ?? []) {
    const locale = supportedLocale(tag);
    if (locale) return locale;
  }
  const fromUser = supportedLocale(sources.userLocale);
  if (fromUser) return fromUser;
  const ranked = (sources.acceptLanguage ?? '')
    .split(',')
    .map((part, index) => {
      const [tag = '', ...params] = part.split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag.trim(), q: q ? Number(q.slice(2)) : 1, index };
    })
    .filter(({ tag, q }) => tag && Number.isFinite(q) && q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { tag } of ranked) {
    const locale = supportedLocale(tag);
    if (locale) return locale;
  }
  return DEFAULT_LOCALE;
}
