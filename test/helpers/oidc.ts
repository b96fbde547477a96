import { createServer } from 'node:net';
import * as client from 'openid-client';
import { type StartOptions, startGatehouse, type TestGatehouse } from './gatehouse.js';

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A Gatehouse listening on a real socket, with the issuer it is reachable at (for clients
 * no one here wrote). Browser tests name it `localhost`: WebAuthn needs a secure context,
 * and http://localhost is one (an IP address is not a valid WebAuthn RP ID).
 */
export async function startListeningGatehouse(
  options: Omit<StartOptions, 'issuer'> & { hostname?: 'localhost' | '127.0.0.1' } = {},
): Promise<TestGatehouse & { issuer: string }> {
  const { hostname = '127.0.0.1', ...start } = options;
  const port = await freePort();
  const issuer = `http://${hostname}:${port}`;
  const gh = await startGatehouse({ ...start, issuer });
  await gh.app.listen({ port, host: '127.0.0.1' });
  return Object.assign(gh, { issuer });
}

/** A tiny cookie jar for driving hosted pages with fetch (no JavaScript needed, as a browser without it). */
export class Browser {
  private readonly cookies = new Map<string, string>();

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = (pair as string).indexOf('=');
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }

  /** Follows redirects (relative or absolute) until a page answers or `stopAt` matches the location. */
  async follow(url: string, stopAt?: (location: string) => boolean, init: RequestInit = {}): Promise<{ response: Response; url: string }> {
    let current = url;
    let response = await this.fetch(current, init);
    for (let hops = 0; hops < 20 && response.status >= 300 && response.status < 400; hops++) {
      const location = new URL(response.headers.get('location') as string, current).href;
      if (stopAt?.(location)) return { response, url: location };
      current = location;
      response = await this.fetch(current);
    }
    return { response, url: current };
  }

  /** Submits a form: POSTs the fields, urlencoded, to the action resolved against the page URL. */
  async submit(pageUrl: string, action: string, fields: Record<string, string>, stopAt?: (location: string) => boolean) {
    return this.follow(new URL(action, pageUrl).href, stopAt, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

/** The action and hidden fields of the first form on a page. */
export function formOf(page: string): { action: string; fields: Record<string, string> } {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/.exec(page);
  if (!form) throw new Error(`No form on the page:\n${page.slice(0, 2000)}`);
  const fields: Record<string, string> = {};
  for (const input of (form[2] as string).matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    const value = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
    if (name)
      fields[name] = value
        .replace(/&amp;/g, '&')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>');
  }
  return { action: (form[1] as string).replace(/&amp;/g, '&'), fields };
}

/**
 * An authorization request with PKCE through the hosted sign-in page, answered with a
 * password, in `browser`: where it lands (the callback, or the page of the next step), the
 * verifier for the code exchange and the authorization request's URL.
 */
export async function passwordSignIn(
  browser: Browser,
  config: client.Configuration,
  options: { callback: string; email: string; password: string; params?: Record<string, string> },
) {
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: options.callback,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...options.params,
  });
  const isCallback = (location: string) => location.startsWith(options.callback);
  const opened = await browser.follow(url.href, isCallback);
  const form = formOf(await opened.response.text());
  const landed = await browser.submit(
    opened.url,
    form.action,
    { ...form.fields, username: options.email, password: options.password },
    isCallback,
  );
  return { ...landed, verifier, request: url.href, atCallback: isCallback(landed.url) };
}
