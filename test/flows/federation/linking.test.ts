import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as OTPAuth from 'otpauth';
import { confirmFactor, enrolTotp } from '../../../src/authn/mfa/index.js';
import { mappedRoleNames } from '../../../src/flows/federation/mapping.js';
import { insertConnection, updateConnection } from '../../helpers/connections.js';
import { PASSWORD } from '../../helpers/gatehouse.js';
import {
  atCallback,
  type FederatedRun,
  federatedSignIn,
  formWith,
  startWorld,
  stopWorld,
  tokensOf,
  UPSTREAM_SECRET,
  userByEmail,
  type World,
} from './setup.js';

/**
 * After the provider (issue 14, parts 3 and 4): linking to an existing account only on a
 * verified email of a trusted connection that may speak for the account, or after the
 * account's password and second factor; role mapping kept in sync; upstream MFA counted
 * only when the connection trusts it; a disabled account refused; no email, no account.
 */
describe('federation: identities, linking, mapping, MFA', () => {
  let w: World;
  let corpId: string;
  const accounts: Record<string, Record<string, unknown>> = {
    jane: { email: 'jane@acme.test', email_verified: true, name: 'Jane Upstream' },
    max: { email: 'max@acme.test', email_verified: true },
    lena: { email: 'lena@acme.test', email_verified: false },
    tom: { email: 'tom@corp.test', email_verified: true, family_name: 'Dev' },
    nomail: { name: 'No Mail' },
    mia: { email: 'mia@corp.test', email_verified: true },
  };
  const ids: Record<string, string> = {};

  before(async () => {
    w = await startWorld(accounts);
    for (const name of ['jane', 'max', 'lena'])
      ids[name] = await w.gh.createUser(w.acme.token, { email: `${name}@acme.test`, password: PASSWORD });
    await w.gh.created('/api/v1/roles', w.acme.token, { name: 'developer', permissions: [] });
    await w.gh.created('/api/v1/roles', w.acme.token, { name: 'auditor', permissions: [] });
    const common = {
      strategy: 'oidc' as const,
      tenantId: w.acme.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
    };
    await insertConnection(w.gh, { ...common, name: 'trusted', trustedEmail: true });
    corpId = await insertConnection(w.gh, {
      ...common,
      name: 'corp',
      mapping: [{ claim: 'family_name', value: 'Dev', roles: ['developer'] }],
    });
  });
  after(() => stopWorld(w));

  const identityCount = async (userId: string) =>
    (await w.gh.ctx.db.selectFrom('user_identities').select('subject').where('user_id', '=', userId).execute()).length;

  it('a verified email on a trusted_email connection links to the account at once (audited)', async () => {
    const run = await federatedSignIn(w, { params: { connection: 'trusted' }, account: 'jane' });
    const { access } = await tokensOf(w, run);
    assert.equal(access.sub, ids.jane);
    assert.equal(await identityCount(ids.jane as string), 1);
    const linked = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.identityLinked', target: ids.jane as string });
    assert.equal(linked[0]?.details.how, 'trusted_email');
  });

  it('an unverified email, even on a trusted connection, is no link: the account must be proved', async () => {
    const run = await federatedSignIn(w, { params: { connection: 'trusted' }, account: 'lena' });
    assert.match(run.url, /\/login\/link\/flw_/);
    assert.match(run.page, /exists already/);
    assert.equal(await identityCount(ids.lena as string), 0);
  });

  /** The link page of a run: its password form, answered. */
  const answerLink = (run: FederatedRun, password: string) => {
    const form = formWith(run.page, '/login/link/');
    return run.browser.submit(run.url, form.action, { ...form.fields, password }, atCallback);
  };

  it('no trusted_email: a wrong password links nothing; the right one and the TOTP link and sign in as the account', async () => {
    const actor = { type: 'user' as const, id: ids.max as string, ip: null, userAgent: null };
    const enrolment = await enrolTotp(w.gh.ctx, actor, ids.max as string);
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret), digits: 6, period: 30 });
    await confirmFactor(w.gh.ctx, actor, ids.max as string, enrolment.factorId, { otp: totp.generate() });

    const run = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'max' });
    assert.match(run.url, /\/login\/link\/flw_/, run.page.slice(0, 300));
    const wrong = await answerLink(run, 'not-the-password');
    assert.equal(wrong.response.status, 401);
    assert.match(await wrong.response.text(), /password is not right/);
    assert.equal(await identityCount(ids.max as string), 0);

    const proved = await answerLink(run, PASSWORD);
    assert.match(proved.url, /\/interaction\/[\w-]+\/mfa$/, `the MFA step, not ${proved.url}`);
    assert.equal(await identityCount(ids.max as string), 0, 'nothing linked before the second factor');
    // Given up here, the identity never reaches the account: another sign-in with it asks again.
    const again = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'max' });
    assert.match(again.url, /\/login\/link\/flw_/);

    const mfaPage = await proved.response.text();
    const otpForm = formWith(mfaPage, 'value="otp"');
    await new Promise((resolve) => setTimeout(resolve, 1)); // the code above was used for the enrolment's window
    const done = await run.browser.submit(
      proved.url,
      otpForm.action,
      { ...otpForm.fields, code: totp.generate({ timestamp: Date.now() + 30_000 }) },
      atCallback,
    );
    if (!atCallback(done.url)) {
      // The next window's code may be early; the current window's (not spent by the enrolment in a new window) then.
      const retry = formWith(await done.response.text(), 'value="otp"');
      const second = await run.browser.submit(done.url, retry.action, { ...retry.fields, code: totp.generate() }, atCallback);
      assert.ok(atCallback(second.url), `ended at ${second.url}`);
      Object.assign(run, { url: second.url });
    } else Object.assign(run, { url: done.url });
    const { access, id } = await tokensOf(w, { ...run, page: '' });
    assert.equal(access.sub, ids.max);
    assert.ok((id.amr as string[]).includes('mfa'));
    assert.equal(await identityCount(ids.max as string), 1, 'linked once the sign-in ended');
    // The session opened after the MFA step remembers the connection (`/v2/logout?federated`, decision 456).
    const corp = await w.gh.ctx.db
      .selectFrom('connections')
      .select('id')
      .where('name', '=', 'corp')
      .where('tenant_id', '=', w.acme.tenantId)
      .executeTakeFirstOrThrow();
    const opened = await w.gh.ctx.db
      .selectFrom('sessions')
      .select('connection_id')
      .where('user_id', '=', ids.max as string)
      .orderBy('created_at', 'desc')
      .executeTakeFirstOrThrow();
    assert.equal(opened.connection_id, corp.id);
    const linked = await w.gh.auditEvents(w.acme.token, { action: 'iam.user.identityLinked', target: ids.max as string });
    assert.equal(linked[0]?.details.how, 'proved');

    // Now the identity leads to the account directly (its TOTP still asked, as after a password).
    const next = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'max' });
    assert.match(next.url, /\/interaction\/[\w-]+\/mfa$/);
  });

  it('role mapping on_each_login: granted while the claim matches, removed when it stops; a role assigned by hand stays', async () => {
    const first = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'tom' });
    assert.deepEqual([...((await tokensOf(w, first)).access.roles as string[])].sort(), ['USER', 'developer']);
    const tom = await userByEmail(w, 'tom@corp.test');
    assert.ok(tom);
    const roles = (await w.gh.request('GET', '/api/v1/roles', { token: w.acme.token })).body.roles as { id: string; name: string }[];
    const auditor = roles.find((r) => r.name === 'auditor')?.id as string;
    const members = await w.gh.members(w.acme.token, w.acme.tenantId);
    const current = members.find((m) => m.user_id === tom.id)?.roles.map((r) => r.id) ?? [];
    const patched = await w.gh.request('PATCH', `/api/v1/tenants/${w.acme.tenantId}/members/${tom.id}`, {
      token: w.acme.token,
      body: { roles: [...current, auditor] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    accounts.tom = { ...accounts.tom, family_name: 'Ops' };
    const second = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'tom' });
    assert.deepEqual([...((await tokensOf(w, second)).access.roles as string[])].sort(), ['USER', 'auditor']);
    assert.equal((await userByEmail(w, 'tom@corp.test'))?.family_name, 'Ops', 'attributes synced too');
    // on_first_login: a later change of the claim changes nothing.
    await updateConnection(w.gh, corpId, { sync_mode: 'on_first_login' });
    accounts.tom = { ...accounts.tom, family_name: 'Dev' };
    const third = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'tom' });
    assert.deepEqual([...((await tokensOf(w, third)).access.roles as string[])].sort(), ['USER', 'auditor']);
    await updateConnection(w.gh, corpId, { sync_mode: 'on_each_login' });
  });

  it('a value matches a claim equal to it, or a member of an array claim', () => {
    const mapping = [
      { claim: 'groups', value: 'eng', roles: ['developer'] },
      { claim: 'hd', value: 'acme.test', roles: ['staff'] },
    ];
    assert.deepEqual(mappedRoleNames(mapping, { groups: ['ops', 'eng'], hd: 'acme.test' }), ['developer', 'staff']);
    assert.deepEqual(mappedRoleNames(mapping, { groups: 'eng-team', hd: ['other'] }), []);
  });

  it("upstream MFA counts only with upstream_mfa; otherwise the tenant's own second factor applies", async () => {
    const policy = await w.gh.request('PATCH', `/api/v1/tenants/${w.acme.tenantId}/policies`, {
      token: w.acme.token,
      body: { mfa: { policy: 'required' } },
    });
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    try {
      const untrusted = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'mia', amr: ['pwd', 'mfa'] });
      assert.match(untrusted.url, /\/interaction\/[\w-]+\/mfa$/, 'Gatehouse asks (an enrolment) though the provider did MFA');
      await updateConnection(w.gh, corpId, { upstream_mfa: true });
      const trusted = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'mia', amr: ['pwd', 'mfa'] });
      const { id } = await tokensOf(w, trusted);
      assert.deepEqual([...(id.amr as string[])].sort(), ['fed', 'mfa']);
      const without = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'mia', amr: ['pwd'] });
      assert.match(without.url, /\/interaction\/[\w-]+\/mfa$/, 'no upstream MFA: Gatehouse asks');
    } finally {
      await updateConnection(w.gh, corpId, { upstream_mfa: false });
      await w.gh.request('PATCH', `/api/v1/tenants/${w.acme.tenantId}/policies`, { token: w.acme.token, body: { mfa: { policy: 'off' } } });
    }
  });

  it('a disabled account is refused (403 page), through its identity', async () => {
    const jane = ids.jane as string;
    const disabled = await w.gh.request('PATCH', `/api/v1/users/${jane}`, { token: w.acme.token, body: { status: 'disabled' } });
    assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
    const run = await federatedSignIn(w, { params: { connection: 'trusted' }, account: 'jane' });
    assert.equal(run.status, 403);
    assert.match(run.page, /account_disabled/);
    assert.ok(!atCallback(run.url));
  });

  it('no email from the provider: no account is made (a clear page, 400)', async () => {
    const before = await w.gh.rowCount('users');
    const run = await federatedSignIn(w, { params: { connection: 'corp' }, account: 'nomail' });
    assert.equal(run.status, 400);
    assert.match(run.page, /email_required/);
    assert.equal(await w.gh.rowCount('users'), before);
  });

  it("attack: another tenant's trusted connection asserting a verified email links nothing to an Acme account", async () => {
    await insertConnection(w.gh, {
      name: 'evil',
      strategy: 'oidc',
      tenantId: w.globex.tenantId,
      options: w.oidcOptions,
      secrets: { client_secret: UPSTREAM_SECRET },
      trustedEmail: true,
    });
    // Globex's application, and Globex's connection saying "lena@acme.test, verified".
    const globexApp = await w.gh.created('/api/v1/applications', w.globex.token, {
      name: 'Globex',
      type: 'web',
      redirect_uris: ['http://localhost:4000/callback'],
    });
    await updateConnection(
      w.gh,
      (await w.gh.ctx.db.selectFrom('connections').select('id').where('name', '=', 'evil').executeTakeFirstOrThrow()).id,
      {
        enabled_clients: [globexApp.client_id],
      },
    );
    accounts.lena = { ...accounts.lena, email_verified: true };
    const client = await import('openid-client');
    const config = await client.discovery(new URL(w.gh.issuer), globexApp.client_id, globexApp.client_secret, undefined, {
      execute: [client.allowInsecureRequests],
    });
    const run = await federatedSignIn({ ...w, config }, { params: { connection: 'evil', audience: '' }, account: 'lena' });
    assert.match(run.url, /\/login\/link\/flw_/, 'asked to prove the account instead');
    assert.equal(await identityCount(ids.lena as string), 0);
  });
});
