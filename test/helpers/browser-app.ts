import { decodeJwt, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import type { Clock } from '../../src/platform/ids.js';
import { deliverEmails } from '../../src/platform/mail/mailer.js';
import { launchChromium, startCallbackServer } from './browser.js';
import type { TenantAdmin, TestGatehouse } from './gatehouse.js';
import { startListeningGatehouse } from './oidc.js';
import { type ReceivedMail, type SmtpPeer, startSmtpPeer } from './smtp.js';

export interface BrowserAppOptions {
  /** Start an SMTP peer and send Gatehouse's email to it, from this address (omitted: no SMTP peer, no SMTP configuration). */
  smtpFrom?: string;
  /** Configuration keys on top of the test defaults (and of the SMTP ones). */
  config?: Record<string, string>;
  /** The clock the server reads (default: the system clock). */
  clock?: Clock;
  /** The tenant's slug (default `acme`). */
  tenant?: string;
  /** Fields of the web application on top of `{ name: 'Acme Portal', type: 'web', redirect_uris: [callbackUrl] }`. */
  application?: (callbackUrl: string) => Record<string, unknown>;
}

/**
 * What a browser test of the hosted pages stands on: a Gatehouse listening at
 * http://localhost:<port> (WebAuthn and cookies want a secure context), a tenant with its
 * administrator, a confidential web application in it discovered with openid-client, the
 * application's callback as a real HTTP server, Chromium and, when asked, an SMTP peer.
 */
export interface BrowserApp {
  gh: TestGatehouse & { issuer: string };
  /** Present when `smtpFrom` was given. */
  smtp: SmtpPeer | undefined;
  chromium: Browser;
  callback: { url: string; stop(): Promise<void> };
  /** The tenant and its signed-in administrator (tenantWithAdmin). */
  tenant: TenantAdmin;
  /** The web application as POST /api/v1/applications answered it (client_id, client_secret, …). */
  app: any;
  /** openid-client's configuration for the application (discovered; plain http allowed). */
  config: client.Configuration;
  /** A new page in its own context (its own cookies), with the hosted pages' Content-Security-Policy bypassed (see the comment inside). */
  newPage(): Promise<Page>;
  /** Whether a URL is the application's callback (for `page.waitForURL`). */
  isCallback(url: URL): boolean;
  /**
   * Sends the page to the application's authorization URL (code flow, PKCE S256,
   * `scope=openid email`, plus `extraParams`); returns the PKCE verifier.
   */
  openSignIn(page: Page, extraParams?: Record<string, string>): Promise<string>;
  /** Exchanges the code in the page's URL (the callback) at the token endpoint. */
  tokensAt(page: Page, verifier: string): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers>;
  /** The ID token's claims, from the code in the page's URL (the callback). */
  claimsAt(page: Page, verifier: string): Promise<JWTPayload>;
  /** Delivers the queued emails now, then the next one to `address` that the SMTP peer receives. */
  mailTo(address: string): Promise<ReceivedMail>;
  /** Stops what was started: Chromium, Gatehouse, the callback server, the SMTP peer. */
  stop(): Promise<void>;
}

export async function startBrowserApp(options: BrowserAppOptions = {}): Promise<BrowserApp> {
  const started: Partial<Pick<BrowserApp, 'gh' | 'smtp' | 'chromium' | 'callback'>> = {};
  const stop = async () => {
    await started.chromium?.close();
    await started.gh?.stop();
    await started.callback?.stop();
    await started.smtp?.stop();
  };
  try {
    const smtp = options.smtpFrom === undefined ? undefined : await startSmtpPeer();
    started.smtp = smtp;
    const callback = await startCallbackServer();
    started.callback = callback;
    const gh = await startListeningGatehouse({
      hostname: 'localhost',
      clock: options.clock,
      config: { ...(smtp && { smtpUrl: smtp.url, smtpFrom: options.smtpFrom as string }), ...options.config },
    });
    started.gh = gh;
    const tenant = await gh.tenantWithAdmin(options.tenant ?? 'acme');
    const app = await gh.created('/api/v1/applications', tenant.token, {
      name: 'Acme Portal',
      type: 'web',
      redirect_uris: [callback.url],
      ...options.application?.(callback.url),
    });
    const oidc = await client.discovery(new URL(gh.issuer), app.client_id, app.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const chromium = await launchChromium();
    started.chromium = chromium;

    const tokensAt = (page: Page, verifier: string) =>
      client.authorizationCodeGrant(oidc, new URL(page.url()), { pkceCodeVerifier: verifier });
    return {
      gh,
      smtp,
      chromium,
      callback,
      tenant,
      app,
      config: oidc,
      // checkPage injects axe-core as a script, which the hosted pages' CSP (rightly) refuses:
      // the test browser bypasses the CSP (the CSP itself is tested in test/flows/sign-in/hosted-pages.test.ts).
      newPage: () => chromium.newPage({ bypassCSP: true }),
      isCallback: (url) => url.href.startsWith(callback.url),
      async openSignIn(page, extraParams = {}) {
        const verifier = client.randomPKCECodeVerifier();
        const url = client.buildAuthorizationUrl(oidc, {
          redirect_uri: callback.url,
          scope: 'openid email',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          ...extraParams,
        });
        await page.goto(url.href);
        return verifier;
      },
      tokensAt,
      claimsAt: async (page, verifier) => decodeJwt((await tokensAt(page, verifier)).id_token as string),
      async mailTo(address) {
        if (!smtp) throw new Error('startBrowserApp: no SMTP peer (pass smtpFrom)');
        await deliverEmails(gh.ctx);
        return smtp.next(address);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
