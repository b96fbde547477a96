import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { logoutPage } from '../../../src/oauth/engine/pages.js';
import { startListeningGatehouse } from '../../helpers/oidc.js';

/**
 * The pages the protocol engine renders (device flow, sign-out, protocol errors) in the
 * browser's language, or the request's ui_locales; the hosted pages' error handler too.
 */
describe('the engine’s pages in the browser’s language', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  before(async () => {
    gh = await startListeningGatehouse();
  });
  after(() => gh.stop());

  const open = async (path: string, acceptLanguage: string) => {
    const response = await fetch(`${gh.issuer}${path}`, { headers: { 'accept-language': acceptLanguage }, redirect: 'manual' });
    return { status: response.status, page: await response.text() };
  };

  it('the device flow’s code page', async () => {
    const path = '/activate';
    const german = await open(path, 'de-CH, en;q=0.5');
    assert.equal(german.status, 200);
    assert.match(german.page, /<html lang="de">/);
    assert.match(german.page, /<h1>Ein Gerät verbinden<\/h1>/);
    assert.match(german.page, /<label for="user_code">Geben Sie den Code ein, den Ihr Gerät anzeigt<\/label>/);
    const english = await open(path, 'fr, en;q=0.8');
    assert.match(english.page, /<html lang="en">/);
    assert.match(english.page, /<h1>Connect a device<\/h1>/);
  });

  it('the sign-out pages (rendered through the same language choice as the device pages)', () => {
    const german = logoutPage({ lang: 'de', form: '<form id="op.logoutForm" method="post"></form>', clientName: 'Acme <Portal>' });
    assert.match(german, /<html lang="de">/);
    assert.match(german, /<h1>Abmelden\?<\/h1>/);
    assert.match(german, /<strong>Acme &lt;Portal&gt;<\/strong> möchte Sie abmelden\./, 'the name escaped inside the sentence');
    assert.match(german, />Angemeldet bleiben</);
    assert.match(logoutPage({ lang: 'de' }), /<h1>Sie sind abgemeldet<\/h1>/);
    assert.match(logoutPage({}), /<html lang="en">[\s\S]*<h1>You are signed out<\/h1>/);
  });

  it('a protocol error: ui_locales of the request, else the browser', async () => {
    const query = 'client_id=nobody&response_type=code&scope=openid&redirect_uri=https%3A%2F%2Fapp.test%2Fcb';
    const german = await open(`/authorize?${query}&ui_locales=de`, 'en');
    assert.equal(german.status, 400);
    assert.match(german.page, /<html lang="de">/);
    assert.match(german.page, /Diese Anmeldeanfrage kann nicht abgeschlossen werden/);
    assert.match(german.page, /Fehlercode: <code>invalid_client<\/code>/);
    const english = await open(`/authorize?${query}`, 'en-GB');
    assert.match(english.page, /This sign-in request cannot be completed/);
    assert.match(english.page, /Error code: <code>invalid_client<\/code>/);
  });

  it('an error of the hosted pages (an interaction that does not exist)', async () => {
    const german = await open('/interaction/gone', 'de-DE,de;q=0.9');
    assert.ok(german.status >= 400);
    assert.match(german.page, /<html lang="de">/);
    assert.match(german.page, /<h1>Etwas ist schiefgelaufen<\/h1>/);
    assert.match(german.page, /Diese Anmeldeanfrage ist abgelaufen oder wurde in einem anderen Browser geöffnet/);
  });
});
