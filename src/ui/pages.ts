import { type Branding, type Html, html, page, trusted } from './html.js';

export interface PageContext {
  branding?: Branding;
  lang?: string;
}

const errorBox = (message?: string) => (message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '');

export function signInPage(
  ctx: PageContext & {
    action: string;
    csrf: string;
    clientName: string;
    username?: string;
    error?: string;
    links?: { signup?: string; recovery?: string; passwordless?: string };
  },
): string {
  return page({
    ...ctx,
    title: 'Sign in',
    body: html`<h1>Sign in</h1>
<p>to continue to <strong>${ctx.clientName}</strong></p>
${errorBox(ctx.error)}
<form method="post" action="${ctx.action}" novalidate>
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <label for="username">Email or username</label>
  <input type="text" id="username" name="username" value="${ctx.username ?? ''}" autocomplete="username" autocapitalize="none" required autofocus${ctx.error ? html` aria-describedby="form-error"` : ''}>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
${signInLinkList(ctx.links)}`,
  });
}

function signInLinkList(links: { signup?: string; recovery?: string; passwordless?: string } | undefined) {
  if (!links) return '';
  const items = [
    links.passwordless && html`<li><a href="${links.passwordless}">Sign in without a password</a></li>`,
    links.recovery && html`<li><a href="${links.recovery}">Forgot your password?</a></li>`,
    links.signup && html`<li><a href="${links.signup}">Create an account</a></li>`,
  ].filter(Boolean);
  return items.length > 0 ? html`<ul class="links">${items}</ul>` : '';
}

export function organizationPage(
  ctx: PageContext & { action: string; csrf: string; clientName: string; organizations: { id: string; name: string }[]; error?: string },
): string {
  const choices = ctx.organizations.map(
    (org, i) =>
      html`<li><button type="submit" name="organization" value="${org.id}"${i === 0 ? ' autofocus' : ''}>${org.name}</button></li>`,
  );
  return page({
    ...ctx,
    title: 'Choose an organization',
    body: html`<h1>Choose an organization</h1>
<p><strong>${ctx.clientName}</strong> needs to know which organization you are signing in for.</p>
${errorBox(ctx.error)}
${
  ctx.organizations.length === 0
    ? html`<p class="error" role="alert">You are not a member of any organization that this application accepts.</p>`
    : html`<form method="post" action="${ctx.action}">
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  <ul class="choices">${choices}</ul>
</form>`
}`,
  });
}

export function consentPage(
  ctx: PageContext & {
    action: string;
    csrf: string;
    clientName: string;
    scopes: string[];
    apiScopes: { audience: string; scopes: string[] }[];
    organization?: { id: string; name: string };
  },
): string {
  const items: Html[] = [
    ...ctx.scopes.map((scope) => html`<li>${SCOPE_TEXT[scope] ?? scope}</li>`),
    ...ctx.apiScopes.flatMap(({ audience, scopes }) =>
      scopes.map((scope) => html`<li><code>${scope}</code> <small>at ${audience}</small></li>`),
    ),
  ];
  return page({
    ...ctx,
    title: 'Allow access',
    body: html`<h1>Allow access?</h1>
<p><strong>${ctx.clientName}</strong> asks to:</p>
<ul>${items.length > 0 ? items : html`<li>know who you are</li>`}</ul>
${ctx.organization ? html`<p>for the organization <strong>${ctx.organization.name}</strong></p>` : ''}
<form method="post" action="${ctx.action}">
  <input type="hidden" name="csrf" value="${ctx.csrf}">
  ${ctx.organization ? html`<input type="hidden" name="organization" value="${ctx.organization.id}">` : ''}
  <button type="submit" name="decision" value="allow" autofocus>Allow</button>
  <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</form>`,
  });
}

const SCOPE_TEXT: Record<string, string> = {
  openid: 'know who you are',
  profile: 'read your name and profile',
  email: 'read your email address',
  offline_access: 'stay signed in (keep access when you are away)',
};

export function errorPage(ctx: PageContext & { title: string; message: string; code?: string }): string {
  return page({
    ...ctx,
    title: ctx.title,
    body: html`<h1>${ctx.title}</h1>
<p class="error" role="alert">${ctx.message}</p>
${ctx.code ? html`<p><small>Error code: <code>${ctx.code}</code></small></p>` : ''}`,
  });
}

/** Sign-out confirmation: the engine's form (with its own CSRF field) and our buttons. */
export function logoutPage(ctx: PageContext & { form?: string; clientName?: string }): string {
  if (!ctx.form) {
    return page({ ...ctx, title: 'Signed out', body: html`<h1>You are signed out</h1><p>You can close this window.</p>` });
  }
  return page({
    ...ctx,
    title: 'Sign out',
    body: html`<h1>Sign out?</h1>
<p>${ctx.clientName ? html`<strong>${ctx.clientName}</strong> asks to sign you out.` : 'Do you want to sign out?'}</p>
${trusted(ctx.form)}
<button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Sign out</button>
<button type="submit" form="op.logoutForm" class="secondary">Stay signed in</button>`,
  });
}

export function devicePage(
  ctx: PageContext & { step: 'input' | 'confirm' | 'success'; form?: string; clientName?: string; userCode?: string; error?: string },
): string {
  if (ctx.step === 'success') {
    return page({
      ...ctx,
      title: 'Device connected',
      body: html`<h1>All set</h1><p>Your device is signed in. You can close this window.</p>`,
    });
  }
  if (ctx.step === 'confirm') {
    return page({
      ...ctx,
      title: 'Confirm the device',
      body: html`<h1>Connect this device?</h1>
<p><strong>${ctx.clientName}</strong> is asking to sign in on a device showing the code</p>
<p><code style="font-size:1.5rem">${ctx.userCode}</code></p>
${trusted(ctx.form ?? '')}
<button type="submit" form="op.deviceConfirmForm" autofocus>Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" class="secondary">Cancel</button>`,
    });
  }
  return page({
    ...ctx,
    title: 'Connect a device',
    body: html`<h1>Connect a device</h1>
${errorBox(ctx.error)}
${trusted(ctx.form ?? '')}
<label for="user_code">Enter the code shown on your device</label>
<input type="text" id="user_code" name="user_code" form="op.deviceInputForm" autocomplete="off" autocapitalize="characters" required autofocus>
<button type="submit" form="op.deviceInputForm">Continue</button>`,
  });
}
