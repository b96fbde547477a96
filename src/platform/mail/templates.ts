import type { Kysely } from 'kysely';
import { brandingOf } from '../../oauth/engine/pages.js';
import type { AppContext } from '../context.js';
import type { Database } from '../db/schema.js';
import { type Locale, type MessageKey, translator } from '../i18n/index.js';
import { DEFAULT_BRANDING, escapeHtml, html } from '../web/html.js';
import { type EmailMessage, queueEmail } from './mailer.js';

type Vars = Record<string, string | number>;

/** One email of a flow, in words from the catalog (src/i18n), before branding and layout. */
export interface BrandedEmail {
  to: string;
  tenantId?: string | null;
  locale: Locale;
  /** The subject's catalog key. */
  subject: MessageKey;
  /** Paragraphs, each a catalog key with its values. */
  paragraphs: { key: MessageKey; vars?: Vars }[];
  /** The recipient's name for the greeting, when known. */
  name?: string | null;
  /** A button (HTML) and a plain link (text) to follow. */
  action?: { label: MessageKey; url: string };
  /** A one-time code to type instead. */
  code?: string;
  /** Values for the subject's placeholders. */
  vars?: Vars;
}

/**
 * Renders an email with a text part and an HTML part in the tenant's branding (name,
 * logo, colour) and the recipient's language, every word from the catalog.
 */
export async function renderEmail(ctx: AppContext, email: BrandedEmail, db: Kysely<Database> = ctx.db): Promise<EmailMessage> {
  const t = translator(email.locale);
  const brand = { ...DEFAULT_BRANDING, ...(await brandingOf(ctx, email.tenantId ?? undefined, db)) };
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

/**
 * Renders and queues in the caller's transaction (sent when it commits; kept in the outbox
 * without SMTP). The branding is read through that transaction too: a second connection
 * would wait for the transaction's (forever, on PGlite's single connection).
 */
export async function sendEmail(db: Kysely<Database>, ctx: AppContext, email: BrandedEmail): Promise<string> {
  return queueEmail(db, ctx, await renderEmail(ctx, email, db));
}
