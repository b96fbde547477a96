import { UAParser } from 'ua-parser-js';
import type { SessionSummary } from '../../authn/sessions/manage.js';
import type { User } from '../../platform/db/schema.js';
import type { Locale } from '../../platform/i18n/index.js';
import { type Branding, type Html, html, page } from '../../platform/web/html.js';
import type { MessageKey, Translate } from '../kit/messages.js';
import type { ConsentedApplication } from './applications.js';
import type { IdentitySummary } from './identities.js';

/**
 * The hosted account area (/account…): profile, email, password, security, sessions,
 * applications and deletion, one section each, behind a navigation. Every word comes from
 * the catalog (src/i18n/messages/account.ts) in the page's language.
 */
export interface AccountLook {
  t: Translate;
  locale: Locale;
  branding?: Branding;
  csrf: string;
}

export type Section = 'profile' | 'email' | 'password' | 'security' | 'sessions' | 'applications' | 'support' | 'identities' | 'delete';

const SECTIONS: { id: Section; href: string; label: MessageKey }[] = [
  { id: 'profile', href: '/account', label: 'account.nav_profile' },
  { id: 'email', href: '/account/email', label: 'account.nav_email' },
  { id: 'password', href: '/account/password', label: 'account.nav_password' },
  { id: 'security', href: '/account/security', label: 'account.nav_security' },
  { id: 'sessions', href: '/account/sessions', label: 'account.nav_sessions' },
  { id: 'applications', href: '/account/applications', label: 'account.nav_applications' },
  { id: 'support', href: '/account/support-access', label: 'account.nav_support' },
  { id: 'identities', href: '/account/identities', label: 'account.nav_identities' },
  { id: 'delete', href: '/account/delete', label: 'account.nav_delete' },
];

export const errorBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');
export const noticeBox = (message?: string) => (message ? html`<p role="status"><strong>${message}</strong></p>` : '');
export const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;
/** The `aria-describedby` linking an input to the form's error, when there is one. */
const described = (error?: string) => (error ? html` aria-describedby="form-error"` : '');

/** The navigation between the sections, the current one marked. */
export function accountNav(t: Translate, current: Section): Html {
  const items = SECTIONS.map(
    (s) => html`<li><a href="${s.href}"${s.id === current ? html` aria-current="page"` : ''}>${t(s.label)}</a></li>`,
  );
  return html`<nav aria-label="${t('account.nav_label')}"><ul class="account-nav">${items}</ul></nav>`;
}

/**
 * One account section, laid out like an account page: the navigation and the sign-out
 * beside the section on a wide screen, above it on a narrow one; the title is the page's only h1.
 */
export function accountFrame(look: AccountLook, section: Section, title: string, body: Html): string {
  const { t } = look;
  return page({
    lang: look.locale,
    ...(look.branding && { branding: look.branding }),
    title,
    wide: true,
    body: html`<div class="area">
<div>
${accountNav(t, section)}
<form method="post" action="/account/sign-out">${csrfField(look.csrf)}<button type="submit" class="secondary">${t('account.sign_out')}</button></form>
</div>
<div>
<h1>${title}</h1>
${body}
</div>
</div>`,
  });
}

interface FormState {
  error?: string;
  notice?: string;
}

export function profilePage(look: AccountLook, user: User, state: FormState & { values?: Record<string, string> } = {}): string {
  const { t } = look;
  const v = (name: 'given_name' | 'family_name' | 'name' | 'phone') => state.values?.[name] ?? user[name] ?? '';
  const locale = state.values?.locale ?? user.locale ?? '';
  const option = (value: string, label: string, lang?: string) =>
    html`<option value="${value}"${lang ? html` lang="${lang}"` : ''}${locale === value ? ' selected' : ''}>${label}</option>`;
  const field = (name: 'given_name' | 'family_name' | 'name' | 'phone', label: MessageKey, autocomplete: string, type = 'text') =>
    html`<label for="${name}">${t(label)}</label>
  <input type="${type}" id="${name}" name="${name}" value="${v(name)}" autocomplete="${autocomplete}"${described(state.error)}>`;
  return accountFrame(
    look,
    'profile',
    t('account.profile_title'),
    html`<p>${t('account.signed_in_as', { email: user.email })}</p>
${errorBox(state.error)}
${noticeBox(state.notice)}
<form method="post" action="/account" novalidate>
  ${csrfField(look.csrf)}
  ${field('given_name', 'account.given_name', 'given-name')}
  ${field('family_name', 'account.family_name', 'family-name')}
  ${field('name', 'account.display_name', 'name')}
  ${field('phone', 'account.phone', 'tel', 'tel')}
  <label for="locale">${t('account.language')}</label>
  <select id="locale" name="locale">${option('', t('account.language_auto'))}${option('en', 'English', 'en')}${option('de', 'Deutsch', 'de')}</select>
  ${user.username ? html`<p>${t('account.username_is', { username: user.username })}</p>` : ''}
  <button type="submit">${t('account.save')}</button>
</form>`,
  );
}

export function emailPage(
  look: AccountLook,
  user: User,
  state: FormState & { pending?: { id: string; email: string }; email?: string } = {},
): string {
  const { t } = look;
  return accountFrame(
    look,
    'email',
    t('account.email_title'),
    html`<p>${t('account.email_current', { email: user.email })}</p>
${errorBox(state.error)}
${noticeBox(state.notice)}
${
  state.pending
    ? html`<section>
<h2>${t('account.email_pending_title')}</h2>
<p>${t('account.email_pending', { email: state.pending.email })}</p>
<form method="post" action="/account/email/code" novalidate>
  ${csrfField(look.csrf)}
  <input type="hidden" name="flow" value="${state.pending.id}">
  <label for="code">${t('common.code')}</label>
  <input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code"${described(state.error)}>
  <button type="submit">${t('account.email_confirm_button')}</button>
</form>
</section>`
    : ''
}
<section>
<h2>${t('account.email_new_title')}</h2>
<p>${t('account.email_explain')}</p>
<form method="post" action="/account/email" novalidate>
  ${csrfField(look.csrf)}
  <label for="email">${t('account.email_new')}</label>
  <input type="email" id="email" name="email" value="${state.email ?? ''}" autocomplete="email" required${described(state.error)}>
  <label for="password">${t('account.current_password')}</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  <button type="submit">${t('account.email_send')}</button>
</form>
</section>`,
  );
}

/** The page an emailed link opens: a button that confirms (a POST), never a change on GET. */
export function emailConfirmPage(
  look: Omit<AccountLook, 'csrf'>,
  state: { token?: string; email?: string; error?: string; done?: string },
): string {
  const { t } = look;
  const title = t('account.email_confirm_title');
  return page({
    lang: look.locale,
    ...(look.branding && { branding: look.branding }),
    title,
    body: html`<h1>${title}</h1>
${errorBox(state.error)}
${state.done ? html`<p role="status">${t('account.email_changed', { email: state.done })}</p>` : ''}
${
  state.token && state.email
    ? html`<p>${t('account.email_confirm_explain', { email: state.email })}</p>
<form method="post" action="/account/email/confirm">
  <input type="hidden" name="token" value="${state.token}">
  <button type="submit">${t('account.email_confirm_button')}</button>
</form>`
    : ''
}
<p><a href="/account">${t('account.back_to_account')}</a></p>`,
  });
}

export function passwordPage(look: AccountLook, state: FormState = {}): string {
  const { t } = look;
  return accountFrame(
    look,
    'password',
    t('account.password_title'),
    html`<p>${t('account.password_explain')}</p>
${errorBox(state.error)}
${noticeBox(state.notice)}
<form method="post" action="/account/password" novalidate>
  ${csrfField(look.csrf)}
  <label for="current_password">${t('account.current_password')}</label>
  <input type="password" id="current_password" name="current_password" autocomplete="current-password" required${described(state.error)}>
  <label for="new_password">${t('common.new_password')}</label>
  <input type="password" id="new_password" name="new_password" autocomplete="new-password" required>
  <label for="confirm_password">${t('account.confirm_password')}</label>
  <input type="password" id="confirm_password" name="confirm_password" autocomplete="new-password" required>
  <button type="submit">${t('account.password_change')}</button>
</form>`,
  );
}

export const when = (locale: string, date: Date) =>
  `${new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(date)} UTC`;

/** "Chrome on macOS": a session's browser and system, read from its User-Agent by ua-parser-js; undefined when it names neither. */
export function deviceName(t: Translate, userAgent: string | null): string | undefined {
  if (!userAgent) return undefined;
  const { browser, os } = new UAParser(userAgent).getResult();
  if (browser.name && os.name) return t('account.session_device', { browser: browser.name, os: os.name });
  return browser.name ?? os.name;
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 86_400],
  ['month', 30 * 86_400],
  ['week', 7 * 86_400],
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
];

/** "3 hours ago", "yesterday", "now": approximate, in the page's language. */
export function ago(locale: string, date: Date, now: Date): string {
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(0, 'second');
}

export function sessionsPage(look: AccountLook, sessions: SessionSummary[], now: Date, state: FormState = {}): string {
  const { t } = look;
  const rows = sessions.map((s) => {
    const device = deviceName(t, s.user_agent) ?? t('account.session_unknown_device');
    return html`<li class="factor"><span>
  <strong>${device}</strong>${s.current ? html` · <em>${t('account.session_this')}</em>` : ''}<br>
  <small>${t('account.session_active', { seen: ago(look.locale, s.last_seen_at, now), created: ago(look.locale, s.created_at, now) })}</small><br>
  <small title="${s.user_agent ?? ''}">${t('account.session_details', { created: when(look.locale, s.created_at), seen: when(look.locale, s.last_seen_at), ip: s.ip ?? '—' })}</small>
</span>
<form method="post" action="/account/sessions/revoke">${csrfField(look.csrf)}<input type="hidden" name="session_id" value="${s.id}"><button type="submit" class="secondary" aria-label="${t('account.session_revoke_label', { device })}">${t('account.session_revoke')}</button></form>
</li>`;
  });
  return accountFrame(
    look,
    'sessions',
    t('account.sessions_title'),
    html`<p>${t('account.sessions_explain')}</p>
${errorBox(state.error)}
${noticeBox(state.notice)}
<ul class="choices" id="sessions">${rows}</ul>`,
  );
}

export function applicationsPage(look: AccountLook, apps: ConsentedApplication[], state: FormState = {}): string {
  const { t } = look;
  const rows = apps.map((app) => {
    const scopes = [...app.scopes, ...app.apis.flatMap((api) => api.scopes.map((s) => `${api.audience} ${s}`))];
    return html`<li class="factor"><span><strong>${app.name}</strong><br>
  <small>${t('account.app_scopes', { scopes: scopes.join(', ') || '—' })}</small></span>
<form method="post" action="/account/applications/revoke">${csrfField(look.csrf)}<input type="hidden" name="client_id" value="${app.client_id}"><button type="submit" class="secondary" aria-label="${t('account.app_revoke_label', { name: app.name })}">${t('account.app_revoke')}</button></form>
</li>`;
  });
  return accountFrame(
    look,
    'applications',
    t('account.applications_title'),
    html`<p>${t('account.applications_explain')}</p>
${errorBox(state.error)}
${noticeBox(state.notice)}
${rows.length > 0 ? html`<ul class="choices" id="applications">${rows}</ul>` : html`<p id="applications">${t('account.applications_none')}</p>`}`,
  );
}

/** A connection the user may link (decision 284): its name for the form, its display name for the button. */
export interface Linkable {
  name: string;
  displayName: string;
}

/** The accounts at other providers the user signs in with, each with an Unlink form, and a Link button for each connection the user may link. */
export function identitiesPage(look: AccountLook, identities: IdentitySummary[], linkable: Linkable[], state: FormState = {}): string {
  const { t } = look;
  const rows = identities.map(
    (i) => html`<li class="factor"><span><strong>${i.display_name}</strong><br>
  <small>${t('account.identity_details', { provider: i.provider, created: when(look.locale, i.created_at) })}</small></span>
<form method="post" action="/account/identities/unlink">${csrfField(look.csrf)}<input type="hidden" name="connection" value="${i.connection}"><input type="hidden" name="user_id" value="${i.user_id}"><button type="submit" class="secondary" aria-label="${t('account.identity_unlink_label', { name: i.display_name })}">${t('account.identity_unlink')}</button></form>
</li>`,
  );
  return accountFrame(
    look,
    'identities',
    t('account.identities_title'),
    html`<p>${t('account.identities_explain')}</p>
${errorBox(state.error)}
${noticeBox(state.notice)}
${rows.length > 0 ? html`<ul class="choices" id="identities">${rows}</ul>` : html`<p id="identities">${t('account.identities_none')}</p>`}
${linkable.length > 0 ? linkSection(look, linkable) : ''}`,
  );
}

function linkSection(look: AccountLook, linkable: Linkable[]) {
  const { t } = look;
  const buttons = linkable.map(
    (c) =>
      html`<li><form method="post" action="/account/identities/link">${csrfField(look.csrf)}<input type="hidden" name="connection" value="${c.name}"><button type="submit" class="secondary">${t('account.identity_link', { name: c.displayName })}</button></form></li>`,
  );
  return html`<h2>${t('account.identities_link_title')}</h2>
<p>${t('account.identities_link_explain')}</p>
<ul class="choices" id="linkable">${buttons}</ul>`;
}

export function deletePage(look: AccountLook, verdict: { allowed: boolean; reason?: string }, state: FormState = {}): string {
  const { t } = look;
  const refusal = verdict.reason === 'last_admin' ? t('account.delete_last_admin') : t('account.delete_disabled');
  return accountFrame(
    look,
    'delete',
    t('account.delete_title'),
    verdict.allowed
      ? html`<p>${t('account.delete_explain')}</p>
${errorBox(state.error)}
<form method="post" action="/account/delete" novalidate>
  ${csrfField(look.csrf)}
  <label for="password">${t('account.current_password')}</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required${described(state.error)}>
  <button type="submit">${t('account.delete_button')}</button>
</form>`
      : html`<p role="status" id="delete-refused">${refusal}</p>`,
  );
}

export function goodbyePage(look: Omit<AccountLook, 'csrf'>): string {
  const { t } = look;
  return page({
    lang: look.locale,
    ...(look.branding && { branding: look.branding }),
    title: t('account.goodbye_title'),
    body: html`<h1>${t('account.goodbye_title')}</h1>
<p>${t('account.goodbye_body')}</p>`,
  });
}
