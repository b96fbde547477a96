import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { insertConnection } from '../../helpers/connections.js';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { Browser } from '../../helpers/oidc.js';
import { CONTOSO_TID, type SocialProvider, startSocialProvider } from '../../helpers/social-providers.js';
import { atCallback, authorization, type FederatedRun, startWorld, stopWorld, tokensOf, userByEmail, type World } from './setup.js';

/**
 * A preset through the whole sign-in (issue 14): a system `waad` connection (Microsoft
 * Entra ID, the local stand-in at its documented paths) serving a tenant's application.
 * The identity is `tid:oid`; linking by email needs Entra's verified-email claim and
 * `trusted_email`; a new person is provisioned in the application's tenant.
 */
describe('federation: a system waad connection through the hosted sign-in', () => {
  let w: World;
  let microsoft: SocialProvider;
  let adaId: string;
  const oid = (n: number) => `a0a0a0a0-0000-4000-8000-00000000000${n}`;

  before(async () => {
    w = await startWorld({});
    microsoft = await startSocialProvider('microsoft', { 'ms-client': 'ms-secret' });
    adaId = await w.gh.createUser(w.acme.token, { email: 'ada@contoso.com', password: PASSWORD });
    await insertConnection(w.gh, {
      name: 'entra',
      displayName: 'Contoso (Entra ID)',
      strategy: 'waad',
      options: { client_id: 'ms-client', tenant_domain: 'contoso.onmicrosoft.com', base_url: microsoft.baseUrl },
      secrets: { client_secret: 'ms-secret' },
      enabledClients: [w.app.client_id],
      trustedEmail: true,
    });
  });
  after(async () => {
    await microsoft.close();
    await stopWorld(w);
  });

  async function signIn(person: Record<string, unknown>): Promise<FederatedRun> {
    microsoft.idTokenOverrides = {};
    microsoft.person = { sub: `pairwise-${person.oid}`, tid: CONTOSO_TID, ...person };
    const browser = new Browser();
    const { url, verifier, state } = await authorization(w, { connection: 'entra' });
    const atProvider = await browser.follow(url, (l) => l.startsWith(microsoft.baseUrl));
    assert.ok(atProvider.url.startsWith(microsoft.baseUrl), `sent to Entra ID, not ${atProvider.url}`);
    const params = await microsoft.authorize(atProvider.url);
    const landed = await browser.follow(`${w.gh.issuer}/login/callback?${new URLSearchParams(params)}`, atCallback);
    return {
      browser,
      verifier,
      state,
      url: landed.url,
      status: landed.response.status,
      page: atCallback(landed.url) ? '' : await landed.response.text(),
    };
  }

  it("a new person is provisioned in the application's tenant, the identity tid:oid", async () => {
    const run = await signIn({ oid: oid(1), email: 'bea@contoso.com', name: 'Bea', xms_edov: true });
    const { access } = await tokensOf(w, run);
    const bea = await userByEmail(w, 'bea@contoso.com');
    assert.equal(access.sub, bea?.id);
    assert.equal(bea?.home_tenant_id, w.acme.tenantId, "a system connection provisions into the application's tenant");
    assert.deepEqual(access.roles, ['USER']);
    const identity = await w.gh.ctx.db
      .selectFrom('user_identities')
      .selectAll()
      .where('user_id', '=', bea?.id as string)
      .executeTakeFirstOrThrow();
    assert.equal(identity.subject, `${CONTOSO_TID}:${oid(1)}`);
    assert.equal(identity.provider, 'waad');
  });

  it("an existing account's address without Entra's verified-email claim is not linked (nOAuth): the proof is asked", async () => {
    const run = await signIn({ oid: oid(2), email: 'ada@contoso.com', preferred_username: 'ada@contoso.com' });
    assert.match(run.url, /\/login\/link\/flw_/, run.page.slice(0, 300));
  });

  it('with the verified-email claim and trusted_email, the system connection links the account', async () => {
    const run = await signIn({ oid: oid(3), email: 'ada@contoso.com', xms_edov: true });
    const { access } = await tokensOf(w, run);
    assert.equal(access.sub, adaId);
    const identity = await w.gh.ctx.db.selectFrom('user_identities').selectAll().where('user_id', '=', adaId).executeTakeFirstOrThrow();
    assert.equal(identity.subject, `${CONTOSO_TID}:${oid(3)}`);
  });
});
