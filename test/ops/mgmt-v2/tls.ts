import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';

/**
 * A TLS terminator for a test: a CA and a certificate for localhost made with `openssl`, and a
 * TLS server that pipes each connection to a plain HTTP port, so a client that insists on
 * https (Auth0's SDK) reaches the in-process Gatehouse. The client trusts `caFile` through
 * NODE_EXTRA_CA_CERTS.
 */
export interface Terminator {
  port: number;
  caFile: string;
  close(): Promise<void>;
}

export async function tlsTerminator(): Promise<{ listen(target: number): void } & Terminator> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Gatehouse test CA',
  );
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
  let target = 0;
  const server: Server = createServer(
    { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) },
    (socket) => {
      const upstream = connect(target, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no TLS port');
  return {
    port: address.port,
    caFile: join(dir, 'ca.pem'),
    listen: (port) => {
      target = port;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
