import type { AppError } from '../../platform/errors.js';
import type { PageLook } from './flow-kit.js';
import type { MessageKey } from './messages.js';

/** The catalog sentence of the errors a person meets on a hosted page, by stable code. */
const ERROR_TEXT: Record<string, MessageKey> = {
  csrf_failed: 'common.form_expired',
  interaction_expired: 'error.interaction_expired',
  flow_expired: 'common.flow_expired',
  forbidden: 'error.forbidden',
  not_found: 'error.not_found',
  account_disabled: 'error.account_disabled',
  mfa_step_required: 'error.mfa_step_required',
  ip_blocked: 'error.ip_blocked',
  too_many_attempts: 'error.too_many_requests',
};

/**
 * What an error page says: the catalog's sentence for a known code; for another 4xx the
 * error's own message on an English page (it is written for people) or a general sentence
 * in another language; for anything else (a 500) never the internal message.
 */
export function errorText(look: PageLook, error: AppError | undefined): string {
  if (error?.code === 'service_unavailable') return look.t('common.unavailable');
  if (!error || error.status >= 500) return look.t('common.server_error');
  const key = ERROR_TEXT[error.code];
  if (key) return look.t(key);
  return look.locale === 'en' ? error.message : look.t('error.request_failed');
}
