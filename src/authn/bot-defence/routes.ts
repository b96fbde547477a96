import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { ALTCHA_ASSETS } from './altcha.js';

/**
 * The ALTCHA widget, served by Gatehouse itself (decision 375): no third-party script, so
 * the hosted pages keep their strict CSP (a nonce for the one module script, workers and
 * the stylesheet from our own origin). The widget's "external" build is used: it creates
 * no blob: workers and injects no styles, so neither needs a CSP exception. They are
 * served under ALTCHA_ASSETS.
 */

/**
 * The module a page loads: the widget, the PBKDF2 worker it solves with, and the page's
 * words for it (a JSON data block `#gatehouse-altcha-strings`, from the message catalog).
 */
const BOOT = `import './altcha.js';
const strings = document.getElementById('gatehouse-altcha-strings');
if (strings) {
  const { lang, words } = JSON.parse(strings.textContent);
  globalThis.$altcha.i18n.set(lang, { ...globalThis.$altcha.i18n.get('en'), ...words });
}
globalThis.$altcha.algorithms.set('PBKDF2/SHA-256', () => new Worker('${ALTCHA_ASSETS}/pbkdf2.js'));
`;

function assets(): Map<string, { type: string; body: Buffer | string }> {
  const require = createRequire(import.meta.url);
  const external = dirname(require.resolve('altcha/external'));
  const js = 'text/javascript; charset=utf-8';
  return new Map([
    ['boot.js', { type: js, body: BOOT }],
    ['altcha.js', { type: js, body: readFileSync(join(external, 'altcha.min.js')) }],
    ['altcha.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(external, 'altcha.css')) }],
    ['pbkdf2.js', { type: js, body: readFileSync(join(external, '..', 'workers', 'pbkdf2.js')) }],
  ]);
}

export const altchaAssetRoutes = (): FastifyPluginAsync => async (app) => {
  const files = assets();
  app.get<{ Params: { file: string } }>(`${ALTCHA_ASSETS}/:file`, { schema: { hide: true } }, async (request, reply) => {
    const file = files.get(request.params.file);
    if (!file) return reply.status(404).send({ error: 'not_found', message: 'No such asset' });
    return reply
      .headers({
        'content-type': file.type,
        'cache-control': 'public, max-age=3600',
        'x-content-type-options': 'nosniff',
        'cross-origin-resource-policy': 'same-origin',
        // The worker runs under its own response's policy: it needs nothing but WebCrypto.
        'content-security-policy': "default-src 'none'",
      })
      .send(file.body);
  });
};
