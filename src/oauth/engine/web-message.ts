import { decodeJwt } from 'jose';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { html, jsonBlock, newNonce } from '../../platform/web/html.js';

/** Auth0's response mode for silent authentication in an iframe (and its popup sign-in). */
export const WEB_MESSAGE = 'web_message';

const originOf = (uri: string): string | undefined => {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
};

/**
 * The parameters a request object (RFC 9101) carries over those beside it, as the engine
 * will use them: read here unverified (the engine verifies the signature and refuses a
 * request object that does not verify, so what is checked is what it will act on). An
 * encrypted or unreadable one is left to the engine, which refuses it.
 */
function withRequestObject(query: URLSearchParams): URLSearchParams {
  const requestObject = query.get('request');
  if (!requestObject) return query;
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(requestObject);
  } catch {
    return query;
  }
  const params = new URLSearchParams(query);
  params.delete('request');
  for (const [name, value] of Object.entries(claims)) if (typeof value === 'string') params.set(name, value);
  return params;
}

/**
 * Checked before the engine sees an authorization request (decision 393): an answer by
 * `web_message` goes only to an origin the application lists in `web_origins` (compared
 * exactly), and a web origin that is not also a registered redirect URI receives only
 * such answers, never a code in its query string. Refused with 400 before any code exists.
 */
export async function checkWebMessageRequest(db: Db, query: URLSearchParams): Promise<void> {
  const params = withRequestObject(query);
  const mode = params.get('response_mode');
  const redirectUri = params.get('redirect_uri');
  const clientId = params.get('client_id');
  if (!redirectUri || !clientId) return;
  const origin = originOf(redirectUri);
  if (mode !== WEB_MESSAGE && origin !== redirectUri) return;
  const app = await db
    .selectFrom('applications')
    .select(['redirect_uris', 'web_origins'])
    .where('client_id', '=', clientId)
    .executeTakeFirst();
  if (!app) return; // the engine answers an unknown client
  if (mode === WEB_MESSAGE) {
    if (!origin || !app.web_origins.includes(origin)) {
      throw new AppError(
        'invalid_request',
        'response_mode=web_message: the origin of redirect_uri is not an allowed web origin of this application',
      );
    }
  } else if (app.web_origins.includes(redirectUri) && !app.redirect_uris.includes(redirectUri)) {
    throw new AppError(
      'invalid_request',
      'redirect_uri is an allowed web origin, not a redirect URI: only response_mode=web_message answers there',
    );
  }
}

/**
 * The engine's `web_message` response mode: a page that posts the authorization response
 * to the window that opened it (the iframe's parent, or the popup's opener) for the
 * redirect URI's origin only, as auth0-spa-js expects (`{type: 'authorization_response',
 * response}`). Only this answer may be framed, and only by that origin, when it is one of
 * the application's web origins; any other is a plain refusal that posts nothing.
 */
export function webMessageResponse(koa: KoaContextWithOIDC, redirectUri: string, response: Record<string, unknown>): void {
  const origin = originOf(redirectUri);
  const allowed = (koa.oidc.client?.metadata().gatehouse_web_origins as string[] | undefined) ?? [];
  koa.type = 'html';
  koa.set('cache-control', 'no-store');
  if (!origin || !allowed.includes(origin)) {
    koa.status = 400;
    koa.body = '<!DOCTYPE html><title>Refused</title><p>This origin may not receive the answer.</p>';
    return;
  }
  const nonce = newNonce();
  koa.remove('x-frame-options');
  koa.set(
    'content-security-policy',
    `default-src 'none'; script-src 'nonce-${nonce}'; frame-ancestors ${origin}; base-uri 'none'; form-action 'none'`,
  );
  koa.status = 200;
  const message = { type: 'authorization_response', response };
  koa.body = html`<!DOCTYPE html><html><head><title>Authorization response</title></head><body>
<script type="application/json" id="response">${jsonBlock(message)}</script>
<script nonce="${nonce}">(function () {
  var message = JSON.parse(document.getElementById('response').textContent);
  var target = window.opener || window.parent;
  target.postMessage(message, ${jsonBlock(origin)});
})();</script></body></html>`.toString();
}
