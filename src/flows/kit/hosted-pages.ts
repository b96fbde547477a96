import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import { asAppError, logFailure, setRetryAfter } from '../../platform/http/server.js';
import { formBodies } from '../../platform/web/forms.js';
import { errorPage } from '../../platform/web/pages.js';
import { pageLook, pageOf, plainLook, sendPage } from './flow-kit.js';
import { errorText } from './page-errors.js';

/** Room for a WebAuthn answer (a passkey's attestation), the largest form. */
const FORM_LIMIT = 64 * 1024;

/**
 * The scope every flow's hosted pages are registered in (by src/main/routes.ts): form
 * bodies of at most 64 KiB, and errors as pages, never JSON, in the browser's language (the
 * interaction may be what failed). Call it on the scope before its routes are added.
 */
export function hostedPageScope(app: FastifyInstance, ctx: AppContext): void {
  formBodies(app, FORM_LIMIT);
  app.setErrorHandler(async (error, request, reply) => {
    // The framework's refusals (a body over the limit: 413) keep their status and code.
    const appError = asAppError(error, request);
    const unavailable = appError.code === 'service_unavailable';
    const known = appError.status < 500 || unavailable;
    logFailure(request, error, appError, 'Hosted page failed');
    // The tenant's look is read from the database, which may be what failed: then the plain look.
    const look = await pageLook(ctx, request).catch(() => plainLook(request));
    setRetryAfter(reply, appError);
    const page = errorPage({
      ...pageOf(look),
      title: look.t(unavailable ? 'common.unavailable_title' : 'common.something_went_wrong'),
      message: errorText(look, appError),
      ...(known && { code: appError.code }),
    });
    return sendPage(reply, page, appError.status);
  });
}
