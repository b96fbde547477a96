/**
 * A tiny static server for the single-page app: index.html, its two scripts, and
 * /config.json (Gatehouse's URL, the client_id, the API), nothing else.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';

const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/auth.js': ['auth.js', 'text/javascript; charset=utf-8'],
};

/**
 * @param {{ issuer: string, clientId: string, audience?: string, apiUrl?: string, scope?: string }} config
 * @param {number} port `0` picks a free port
 * @param {string} [origin] where the page is reached; its `/` must be a redirect URI of the application
 */
export async function start(config, port = 3003, origin) {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://spa').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ ...config, redirectUri: `${origin ?? `http://localhost:${server.address().port}`}/` }));
    }
    const file = FILES[path];
    if (!file) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' });
    res.end(await readFile(new URL(file[0], import.meta.url)));
  });
  server.listen(port);
  await new Promise((resolve, reject) => server.once('listening', resolve).once('error', reject));
  return {
    server,
    url: origin ?? `http://localhost:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
