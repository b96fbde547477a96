import type { ImpersonationSummary } from '../../oauth/tokens/impersonations.js';
import { html } from '../../platform/web/html.js';
import { type AccountLook, accountFrame, when } from './area-pages.js';

/**
 * "Support access" (decision 433): every impersonation of the user's account by an
 * administrator, newest first: who, through which application and tenant, from when until
 * when, and whether it is running now. The same events are in the audit trail.
 */
export function supportAccessPage(look: AccountLook, impersonations: ImpersonationSummary[]): string {
  const { t } = look;
  const rows = impersonations.map(
    (i) => html`<li class="factor" data-impersonation="${i.id}"><span>
  <strong>${t('account.support_entry', { who: i.by, email: i.by_email, application: i.application, tenant: i.tenant })}</strong>${i.active ? html` · <em>${t('account.support_active')}</em>` : ''}<br>
  <small>${t('account.support_times', { started: when(look.locale, i.started_at), until: when(look.locale, i.expires_at) })}</small>
</span></li>`,
  );
  return accountFrame(
    look,
    'support',
    t('account.support_title'),
    html`<p>${t('account.support_explain')}</p>
${rows.length > 0 ? html`<ul class="choices" id="support-access">${rows}</ul>` : html`<p id="support-access">${t('account.support_none')}</p>`}`,
  );
}
