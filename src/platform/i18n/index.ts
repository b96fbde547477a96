import { ACCOUNT } from '../../flows/account/messages.js';
import { INVITATION } from '../../flows/invitation/messages.js';
import { PASSWORDLESS } from '../../flows/passwordless/messages.js';
import { RECOVERY } from '../../flows/recovery/messages.js';
import { SIGNUP } from '../../flows/signup/messages.js';
import { COMMON } from './messages/common.js';
import { EMAILS } from './messages/emails.js';
import { MFA } from './messages/mfa.js';
import { SIGN_IN } from './messages/sign-in.js';

/**
 * Every string a person reads on a hosted page or in an email comes from this catalog
 * (issue 5, part 8). Each area keeps its messages in `messages/<area>.ts` as one object per
 * locale; the German object must name every English key (the type says so), so a missing
 * translation is a compile error, not a blank on a page.
 *
 * Placeholders are `{name}`; values are plain text (pages escape them, emails' HTML part too).
 */
const AREAS = [COMMON, SIGN_IN, MFA, EMAILS, SIGNUP, PASSWORDLESS, RECOVERY, INVITATION, ACCOUNT] as const;

export const LOCALES = ['en', 'de'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en';

type Area = (typeof AREAS)[number];
type Keys<A> = A extends { en: infer E } ? keyof E : never;
export type MessageKey = Keys<Area> & string;

const CATALOG: Record<Locale, Record<string, string>> = { en: {}, de: {} };
for (const area of AREAS) {
  for (const locale of LOCALES) Object.assign(CATALOG[locale], area[locale]);
}

/** Every message of a locale, by key (for the catalog's own checks). */
export const catalogOf = (locale: Locale): Readonly<Record<string, string>> => CATALOG[locale];

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

/** The messages of one locale; an unknown key falls back to English, then to the key itself. */
export function translator(locale: Locale): Translate {
  const messages = CATALOG[locale];
  return (key, vars) => {
    const template = messages[key] ?? CATALOG.en[key] ?? key;
    return vars ? template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole)) : template;
  };
}

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
