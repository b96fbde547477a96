import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { insertConnection } from '../../helpers/connections.js';
import { Browser } from '../../helpers/oidc.js';
import { authorization, federatedSignIn, startWorld, stopWorld, tokensOf, UPSTREAM_SECRET, userByEmail, type World } from './setup.js';

/**
 * Issue 14, gaps of the sign-in's tests: a flow that outlived its 15 minutes at the
 * callback is a 4xx page (never a 500), and role mapping on an array claim (`groups`) that a
 * real OpenID provider releases as a custom claim ends in the access token.
 */
describe('federation: an expired flow at the callback, and an array claim mapped over OIDC', () => {
  let w: World;
  let offsetMs = 0;
  const clock = { now: () => new Date(Date.now() + offsetMs) };
  const accounts = {
    eve: { email: 'eve@corp.test', email_verified: true, groups: ['staff', 'engineering'] },
    sam: { email: 'sam@corp.test', email_verified: true, groups: ['staff'] },
    late: { email: 'late@corp.test', email_verified: true },
  };

  before(async () => {
    w = await startWorld(accounts, { clock, claims: { groups: ['groups'] } });
    await w.gh.created('/api/v1/roles', w.acme.token, { name: 'engineer', permissions: [] });
    await insertConnection(w.gh, {
      name: 'corp',
      strategy: 'oidc',
      tenantId: w.acme.tenantId,
      options: { ...w.oidcOptions, scope: 'openid email profile groups' },
      secrets: { client_secret: UPSTREAM_SECRET },
      enabledClients: [w.app.client_id],
      mapping: [{ claim: 'groups', value: 'engineering', roles: ['engineer'] }],
    });
  });
  after(() => stopWorld(w));

  it('mapping [{claim: groups, value: engineering}]: the provider’s groups array grants the role, in the access token', async () => {
    const eve = await tokensOf(w, await federatedSignIn(w, { params: { connection: 'corp' }, account: 'eve' }));
    assert.deepEqual([...(eve.access.roles as string[])].sort(), ['USER', 'engineer']);
    const identity = await w.gh.ctx.db
      .selectFrom('user_identities')
      .select('profile_data')
      .where('user_id', '=', (await userByEmail(w, 'eve@corp.test'))?.id as string)
      .executeTakeFirstOrThrow();
    assert.deepEqual((identity.profile_data as Record<string, unknown>).groups, ['staff', 'engineering'], 'the claim came over OIDC');
    const sam = await tokensOf(w, await federatedSignIn(w, { params: { connection: 'corp' }, account: 'sam' }));
    assert.deepEqual(sam.access.roles, ['USER'], 'no engineering in the groups: no role');
  });

  it('a flow past its 15 minutes at /login/callback: a 400 page (federation_state_invalid), no user, no 500', async () => {
    const browser = new Browser();
    const { url } = await authorization(w, { connection: 'corp' });
    const hop = await browser.follow(url, (location) => location.startsWith(w.upstream.issuer));
    assert.ok(hop.url.startsWith(w.upstream.issuer), 'sent to the provider');
    const { params } = await w.upstream.signIn(hop.url, { account: 'late' });
    offsetMs = 15 * 60_000 + 1000;
    try {
      const landed = await browser.fetch(`${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`);
      const page = await landed.text();
      assert.equal(landed.status, 400, page.slice(0, 400));
      assert.match(landed.headers.get('content-type') ?? '', /text\/html/);
      assert.match(page, /federation_state_invalid/);
      assert.match(page, /has expired/);
      assert.equal(await userByEmail(w, 'late@corp.test'), undefined);
    } finally {
      offsetMs = 0;
    }
  });
});
