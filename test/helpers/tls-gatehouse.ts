import { execFile } from 'node:child_process';
import https from 'node:https';
import { promisify } from 'node:util';
import { Agent, setGlobalDispatcher } from 'undici';
import { type StartOptions, startGatehouse, type TestGatehouse } from './gatehouse.js';
import { freePort } from './oidc.js';

const run = promisify(execFile);

/** A fresh self-signed certificate for localhost (and 127.0.0.1), made by openssl for this run only. */
export async function localhostCertificate(): Promise<{ key: string; cert: string }> {
  const { stdout } = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    '-',
    '-out',
    '-',
  ]);
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(stdout)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(stdout)?.[0];
  if (!key || !cert) throw new Error(`openssl gave no key and certificate: ${stdout}`);
  return { key, cert };
}

/**
 * Makes this test process trust `cert` as a machine trusting a company's CA would: the
 * `fetch` of Node (undici's global dispatcher) and `https.get` (its global agent), the two
 * ways client libraries reach a server. The libraries themselves are not changed.
 */
export function trustCertificate(cert: string): void {
  setGlobalDispatcher(new Agent({ connect: { ca: cert } }));
  https.globalAgent.options.ca = cert;
}

/**
 * A Gatehouse served over TLS at https://localhost:<port>, with Auth0's form of issuer
 * (`https://localhost:<port>/`, its trailing slash): what Auth0's SDKs, which build every
 * URL as `https://${domain}`, need to be pointed at it by `domain` alone.
 */
export async function startTlsGatehouse(
  options: Omit<StartOptions, 'issuer'> = {},
): Promise<TestGatehouse & { issuer: string; domain: string }> {
  const { key, cert } = await localhostCertificate();
  trustCertificate(cert);
  const port = await freePort();
  const domain = `localhost:${port}`;
  const gh = await startGatehouse({ ...options, issuer: `https://${domain}/` });
  await gh.app.ready();
  const server = https.createServer({ key, cert }, (request, response) => gh.app.routing(request, response));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const stop = gh.stop;
  return Object.assign(gh, {
    issuer: `https://${domain}`,
    domain,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stop();
    },
  });
}
