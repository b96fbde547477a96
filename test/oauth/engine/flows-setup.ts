import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import * as client from 'openid-client';
import { PASSWORD, type TestGatehouse } from '../../helpers/gatehouse.js';
import { type Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';

export const CALLBACK = 'http://localhost:4000/callback';
export const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

export interface AppBody {
  id: string;
  client_id: string;
  client_secret?: string;
}

export const isCallback = (location: string) => location.startsWith(CALLBACK);

// The listening server of the browser-facing flow tests, set by the hooks flowsServer() registers
// (an import of a `let` is live: a test reads the value its file's `before` set).
export let gh: TestGatehouse & { issuer: string };
/** The first system administrator's access token for the system tenant. */
export let admin: string;
let userCount = 0;

/** Registers, in the calling describe, the hooks that start a server listening on HTTP and stop it. */
export function flowsServer(): void {
  before(async () => {
    gh = await startListeningGatehouse();
    admin = await gh.adminToken();
  });
  after(() => gh.stop());
}

/** The relying party's configuration for the application, discovered over HTTP (client_secret_basic unless `auth` says otherwise). */
export const discover = (app: AppBody, auth?: client.ClientAuth) =>
  client.discovery(new URL(gh.issuer), app.client_id, undefined, auth ?? client.ClientSecretBasic(app.client_secret as string), {
    execute: [client.allowInsecureRequests],
  });

export const createApp = (body: Record<string, unknown>) => gh.created<AppBody>('/api/v1/applications', admin, body);

/** A new active user homed in the system tenant (or `tenant`). */
export async function newUser(tenant?: string): Promise<{ id: string; email: string; name: string }> {
  userCount++;
  const email = `user${userCount}@flows.test`;
  const name = `User ${userCount}`;
  const id = await gh.createUser(admin, { email, password: PASSWORD, name, ...(tenant && { tenant }) });
  return { id, email, name };
}

/** Opens an authorization URL; expects the hosted sign-in form, fills it and returns where the flow lands (the callback or a page). */
export async function signInThrough(browser: Browser, url: string, email: string, stop: (location: string) => boolean = isCallback) {
  const opened = await browser.follow(url, stop);
  assert.equal(opened.response.status, 200, `expected the sign-in page, got ${opened.response.status} at ${opened.url}`);
  const page = await opened.response.text();
  assert.match(page, /<input[^>]*name="username"/);
  assert.match(page, /<input[^>]*name="password"/);
  const form = formOf(page);
  return browser.submit(opened.url, form.action, { ...form.fields, username: email, password: PASSWORD }, stop);
}
