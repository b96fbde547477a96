import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD } from '../../helpers/gatehouse.js';
import { Browser, formOf, startListeningGatehouse } from '../../helpers/oidc.js';

/** Issue 4, part 1, on the hosted sign-in page: a readable refusal, the same for every account. */
describe('brute-force protection on the hosted sign-in page', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  let app: { client_id: string };
  const redirectUri = 'http://localhost:4000/callback';

  before(async () => {
    gh = await startListeningGatehouse();
    const admin = await gh.adminToken();
    app = await gh.created('/api/v1/applications', admin, {
      name: 'Web app',
      type: 'web',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
    });
    await gh.createUser(admin, { email: 'page@hosted.test', password: PASSWORD });
  });
  after(() => gh.stop());

  async function submitOnce(username: string, password: string) {
    const browser = new Browser();
    const params = new URLSearchParams({ response_type: 'code', client_id: app.client_id, redirect_uri: redirectUri, scope: 'openid' });
    const opened = await browser.follow(`${gh.issuer}/authorize?${params}`);
    assert.equal(opened.response.status, 200);
    const form = formOf(await opened.response.text());
    const { response } = await browser.submit(opened.url, form.action, { ...form.fields, username, password });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), page: await response.text() };
  }

  it('says “too many attempts” with Retry-After once the account is locked, for unknown accounts alike', async () => {
    for (let i = 0; i < 5; i++) {
      const wrong = await submitOnce('page@hosted.test', `wrong-guess-${i}`);
      assert.equal(wrong.status, 401);
      assert.match(wrong.page, /Wrong username or password/);
    }
    const locked = await submitOnce('page@hosted.test', PASSWORD);
    assert.equal(locked.status, 429);
    assert.equal(locked.retryAfter, '1');
    assert.match(locked.page, /Too many sign-in attempts\. Wait 1 second and try again, or reset your password\./);
    assert.match(locked.page, /<input[^>]*name="password"/, 'the form is still there');

    for (let i = 0; i < 5; i++) await submitOnce('ghost@hosted.test', `wrong-guess-${i}`);
    const ghost = await submitOnce('ghost@hosted.test', 'any-password');
    assert.equal(ghost.status, 429);
    const shape = (page: string) => page.replace(/(value|action|href)="[^"]+"/g, '');
    assert.equal(shape(ghost.page), shape(locked.page), 'an unknown account gets the same page');
  });
});
