import type { Locale, MessageKey, Translate } from '../i18n/index.js';
import { type Branding, DEFAULT_BRANDING, escapeHtml, html } from '../web/html.js';
import type { EmailMessage } from './mailer.js';

type Vars = Record<string, string | number>;

/**
 * One email, in words from a catalog (its keys `K`: the platform's, src/platform/i18n, or
 * a flow's, src/flows/kit/messages.ts), before branding and layout.
 */
export interface BrandedEmail<K extends string = MessageKey> {
  to: string;
  tenantId?: string | null;
  locale: Locale;
  /** The subject's catalog key. */
  subject: K;
  /** Paragraphs, each a catalog key with its values. */
  paragraphs: { key: K; vars?: Vars }[];
  /** The recipient's name for the greeting, when known. */
  name?: string | null;
  /** A button (HTML) and a plain link (text) to follow. */
  action?: { label: K; url: string };
  /** A one-time code to type instead. */
  code?: string;
  /** Values for the subject's placeholders. */
  vars?: Vars;
}

/**
 * The catalog an email's words come from, in the recipient's language: one that holds the
 * email's keys and the frame's (its keys are taken from the email, never from the catalog).
 */
export type EmailWords<K extends string> = (locale: Locale) => Translate<NoInfer<K> | MessageKey>;

/**
 * Renders an email with a text part and an HTML part in the tenant's branding (name,
 * logo, colour; the default without one) and the recipient's language, every word from the catalog.
 */
export function renderEmail<K extends string>(email: BrandedEmail<K>, words: EmailWords<K>, branding: Branding | undefined): EmailMessage {
  const t = words(email.locale);
  const brand = { ...DEFAULT_BRANDING, ...branding };
  const color = /^#[0-9a-fA-F]{6}$/.test(brand.primary_color) ? brand.primary_color : DEFAULT_BRANDING.primary_color;
  const greeting = email.name ? t('email.greeting_name', { name: email.name }) : t('email.greeting');
  const paragraphs = email.paragraphs.map(({ key, vars }) => t(key, { brand: brand.display_name, ...vars }));
  const subject = t(email.subject, { brand: brand.display_name, ...email.vars });

  const text = [
    greeting,
    ...paragraphs,
    ...(email.action ? [`${t(email.action.label)}: ${email.action.url}`] : []),
    ...(email.code ? [`${t('email.code_hint')} ${email.code}`] : []),
    t('email.ignore'),
    `-- \n${t('email.sent_by', { brand: brand.display_name })}`,
  ].join('\n\n');

  const body = html`<!doctype html>
<html lang="${email.locale}"><head><meta charset="utf-8"><title>${subject}</title></head>
<body style="font-family:system-ui,sans-serif;background:#f4f5f7;color:#1a1a1a;margin:0;padding:2rem">
<div style="max-width:32rem;margin:0 auto;background:#fff;padding:2rem;border-radius:.5rem">
<p style="text-align:center">${brand.logo_url ? html`<img src="${brand.logo_url}" alt="${brand.display_name}" style="max-height:3rem">` : html`<strong>${brand.display_name}</strong>`}</p>
<p>${greeting}</p>
${paragraphs.map((p) => html`<p>${p}</p>`)}
${
  email.action
    ? html`<p style="text-align:center"><a href="${email.action.url}" style="display:inline-block;background:${color};color:#fff;padding:.7rem 1.2rem;border-radius:.3rem;text-decoration:none">${t(email.action.label)}</a></p>
<p style="font-size:.9rem">${t('email.button_hint')}<br><a href="${email.action.url}">${email.action.url}</a></p>`
    : ''
}
${email.code ? html`<p>${t('email.code_hint')}</p><p style="font-size:1.6rem;letter-spacing:.3rem;font-weight:bold">${email.code}</p>` : ''}
<p style="color:#555;font-size:.9rem">${t('email.ignore')}</p>
<p style="color:#555;font-size:.8rem">${escapeHtml(t('email.sent_by', { brand: brand.display_name }))}</p>
</div></body></html>`.value;

  return { to: email.to, subject, text, html: body, tenantId: email.tenantId ?? null };
}
