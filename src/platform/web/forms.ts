import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { constantTimeEqual } from '../crypto/secrets.js';
import { AppError } from '../errors.js';
import { limitBodies } from '../http/server.js';

/** The fields of a posted HTML form (see `formBodies`). */
export type Form = Record<string, string>;

/** The hosted pages' form posts (application/x-www-form-urlencoded) parsed as a `Form`, each body at most `limit` bytes. */
export function formBodies(app: FastifyInstance, limit: number): void {
  limitBodies(app, limit);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
}

/**
 * What a hosted form's CSRF token is for, and so what it is bound to. The purpose is
 * hashed with the bindings, so a token made for one kind of form never passes the check of
 * another (docs/security.md#v3-session-management):
 * - `interaction`: the hosted sign-in's forms, bound to the engine's interaction (which its
 *   cookie binds to this browser);
 * - `flow`: a browser flow's forms (sign-up, passwordless code, forced change), bound to the
 *   flow (which its binding cookie ties to this browser);
 * - `link`: the form behind an emailed link (reset, invitation), bound to the flow and to
 *   this browser's binding cookie, so the link's holder cannot make a form for another browser;
 * - `recovery-request`: the recovery request form, before any flow, bound to the binding cookie;
 * - `passwordless-start`: bound to the interaction and to the binding cookie;
 * - `account-sign-in`: the account area's own sign-in, bound to its flow cookie;
 * - `account`: the account area's forms, bound to the session.
 */
export type CsrfPurpose = 'interaction' | 'flow' | 'link' | 'recovery-request' | 'passwordless-start' | 'account-sign-in' | 'account';

/** The one derivation of a form's CSRF token: an HMAC under the master key of the purpose and its bindings. */
export function csrfToken(keys: { masterKey: Buffer }, purpose: CsrfPurpose, ...bindings: string[]): string {
  return createHmac('sha256', keys.masterKey)
    .update(['csrf', purpose, ...bindings].join('\0'))
    .digest('base64url');
}

/** The refusal of a form whose token does not check (403): the page says it has expired. */
export const csrfFailed = () => new AppError('csrf_failed', 'This form has expired; go back and try again');

/** The one check: the form's `csrf` field is the token of this purpose and bindings (in constant time), or 403 `csrf_failed`. */
export function checkCsrf(keys: { masterKey: Buffer }, form: Form, purpose: CsrfPurpose, ...bindings: string[]): void {
  if (!constantTimeEqual(Buffer.from(form.csrf ?? ''), Buffer.from(csrfToken(keys, purpose, ...bindings)))) throw csrfFailed();
}
