import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startListeningGatehouse } from '../../helpers/oidc.js';

/** GET / (the front page), /docs (the documentation as it ships) and /api/v1/docs (Swagger UI on the OpenAPI document). */
describe('the front page, the documentation and the API reference', () => {
  let gh: Awaited<ReturnType<typeof startListeningGatehouse>>;
  before(async () => {
    gh = await startListeningGatehouse();
  });
  after(() => gh.stop());

  it("GET / links to the account area, the API reference, discovery and the docs, in the browser's language", async () => {
    const response = await fetch(`${gh.issuer}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    const text = await response.text();
    for (const href of ['/account', '/api/v1/docs', '/.well-known/openid-configuration', '/docs']) {
      assert.match(text, new RegExp(`href="${href.replace(/[./]/g, (c) => `\\${c}`)}"`), href);
    }
    const german = await fetch(`${gh.issuer}/`, { headers: { 'accept-language': 'de-DE' } });
    assert.match(await german.text(), /Ihr Konto/);
  });

  it('serves the docs as they ship, and nothing else', async () => {
    const index = await (await fetch(`${gh.issuer}/docs`)).text();
    assert.match(index, /href="\/docs\/api\.md"/);
    const api = await fetch(`${gh.issuer}/docs/api.md`);
    assert.equal(api.status, 200);
    assert.match(api.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await api.text(), /^# /);
    for (const path of ['/docs/..%2Fpackage.json', '/docs/%2E%2E%2Fpackage.json', '/docs/nope.md', '/docs/README', '/docs/.env']) {
      const refused = await fetch(`${gh.issuer}${path}`);
      assert.equal(refused.status, 404, path);
      assert.doesNotMatch(await refused.text(), /"dependencies"/, path);
    }
  });

  it('GET /api/v1/docs renders the OpenAPI document with Swagger UI under a strict CSP', async () => {
    const page = await fetch(`${gh.issuer}/api/v1/docs/`, { redirect: 'follow' });
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /script-src[^;]*unsafe/);
    assert.match(csp, /frame-ancestors 'none'/);
    const html = await page.text();
    assert.match(html, /swagger-ui/);
    assert.doesNotMatch(html, /<script>[^<]/, 'no inline script');
    const spec = await fetch(`${gh.issuer}/api/v1/docs/json`);
    assert.equal(spec.status, 200);
    const document = (await spec.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(document.openapi, '3.1.0');
    assert.ok(document.paths['/api/v1/users'], 'the admin API is in the document');
  });
});
