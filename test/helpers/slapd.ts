import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';

/**
 * A real OpenLDAP `slapd` (Debian's `slapd` package) for the `ad` strategy's tests: started
 * as a child process in a temp dir on free ports (ldap:// with StartTLS, and ldaps://), the
 * mdb backend, the core/cosine/inetorgperson/nis schemas, seeded through LDAP as the root DN
 * (so the memberOf overlay, when asked for, fills `memberOf` as on Active Directory).
 * Certificates: a CA and a server certificate for 127.0.0.1/localhost made with `openssl`,
 * and a second, unrelated CA (`wrongCa`) for the refusal tests.
 */
export const SLAPD = '/usr/sbin/slapd';
export const SUFFIX = 'dc=example,dc=org';
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PASSWORD = 'root-secret';
export const SERVICE_DN = `cn=gatehouse,ou=services,${SUFFIX}`;
export const SERVICE_PASSWORD = 'service-secret';

/** The people of the directory: uid → password and DN. */
export const PEOPLE = {
  ann: { dn: `uid=ann,ou=people,${SUFFIX}`, password: 'ann-password' },
  bob: { dn: `uid=bob,ou=people,${SUFFIX}`, password: 'bob-password' },
  /** Sits under ou=admins,ou=people: the target of the DN-injection test (`x,ou=admins`). */
  x: { dn: `uid=x,ou=admins,ou=people,${SUFFIX}`, password: 'x-admin-password' },
} as const;

export interface Slapd {
  /** ldap://127.0.0.1:PORT (StartTLS available). */
  url: string;
  /** ldaps://127.0.0.1:PORT. */
  ldapsUrl: string;
  /** The PEM of the CA that issued the server's certificate. */
  ca: string;
  /** The PEM of a CA that did not. */
  wrongCa: string;
  /** slapd's log (loglevel stats): one line per connection, bind and search. */
  log(): string;
  /** The BIND operations slapd logged so far, as `dn="…" method=128` strings. */
  binds(): string[];
  stop(): Promise<void>;
}

export interface SlapdOptions {
  /** Load the memberOf overlay (groupOfNames/member → memberOf). Default true. */
  memberOf?: boolean;
}

/** RFC 2307 {SSHA}: what slappasswd writes. */
export function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`slapd exited (${child.exitCode}):\n${output()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`slapd did not listen on ${port}:\n${output()}`);
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate it issued (SAN 127.0.0.1 and localhost), and an unrelated CA. */
function makeCertificates(dir: string): void {
  const subj = (cn: string) => ['-subj', `/CN=${cn}`];
  openssl(
    dir,
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
    ...subj('Test LDAP CA'),
  );
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'wrong-ca.key',
    '-out',
    'wrong-ca.pem',
    '-days',
    '2',
    ...subj('Other CA'),
  );
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', ...subj('127.0.0.1'));
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(
    dir,
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
}

function slapdConf(dir: string, memberOf: boolean): string {
  const schema = (name: string) => `include /etc/ldap/schema/${name}.schema`;
  return [
    schema('core'),
    schema('cosine'),
    schema('inetorgperson'),
    schema('nis'),
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    ...(memberOf ? ['moduleload memberof'] : []),
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    // An unauthenticated bind (a DN with an empty password) SUCCEEDS here, as on many
    // directories: the test of the empty-password rule needs a directory that would let it in.
    'allow bind_anon_cred bind_anon_dn',
    `TLSCACertificateFile ${join(dir, 'ca.pem')}`,
    `TLSCertificateFile ${join(dir, 'server.pem')}`,
    `TLSCertificateKeyFile ${join(dir, 'server.key')}`,
    'database mdb',
    'maxsize 10485760',
    `suffix "${SUFFIX}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${ROOT_PASSWORD}`,
    `directory ${join(dir, 'data')}`,
    'access to attrs=userPassword by self write by anonymous auth by * none',
    'access to * by users read by * none',
    ...(memberOf
      ? ['overlay memberof', 'memberof-group-oc groupOfNames', 'memberof-member-ad member', 'memberof-memberof-ad memberOf']
      : []),
    '',
  ].join('\n');
}

type Entry = [dn: string, attributes: Record<string, string | string[]>];

function seed(): Entry[] {
  const person = (uid: string, password: string, extra: Record<string, string | string[]>): Record<string, string | string[]> => ({
    objectClass: ['inetOrgPerson', 'posixAccount'],
    uid,
    uidNumber: String(1000 + uid.length + uid.charCodeAt(0)),
    gidNumber: '1000',
    homeDirectory: `/home/${uid}`,
    userPassword: ssha(password),
    ...extra,
  });
  return [
    [SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' }],
    [`ou=people,${SUFFIX}`, { objectClass: 'organizationalUnit', ou: 'people' }],
    [`ou=admins,ou=people,${SUFFIX}`, { objectClass: 'organizationalUnit', ou: 'admins' }],
    [`ou=services,${SUFFIX}`, { objectClass: 'organizationalUnit', ou: 'services' }],
    [`ou=groups,${SUFFIX}`, { objectClass: 'organizationalUnit', ou: 'groups' }],
    [SERVICE_DN, { objectClass: ['organizationalRole', 'simpleSecurityObject'], cn: 'gatehouse', userPassword: ssha(SERVICE_PASSWORD) }],
    [
      PEOPLE.ann.dn,
      person('ann', PEOPLE.ann.password, {
        cn: 'Ann Example',
        givenName: 'Ann',
        sn: 'Example',
        displayName: 'Ann E.',
        mail: 'ann@example.org',
      }),
    ],
    [PEOPLE.bob.dn, person('bob', PEOPLE.bob.password, { cn: 'Bob Builder', sn: 'Builder', mail: 'bob@example.org' })],
    [PEOPLE.x.dn, person('x', PEOPLE.x.password, { cn: 'X Admin', sn: 'Admin' })],
    [`cn=engineering,ou=groups,${SUFFIX}`, { objectClass: 'groupOfNames', cn: 'engineering', member: [PEOPLE.ann.dn] }],
    [
      `cn=gatehouse-admins,ou=groups,${SUFFIX}`,
      { objectClass: 'groupOfNames', cn: 'gatehouse-admins', member: [PEOPLE.ann.dn, PEOPLE.x.dn] },
    ],
    // groupOfUniqueNames: outside the memberOf overlay's reach, found only by the group search.
    [`cn=ops,ou=groups,${SUFFIX}`, { objectClass: 'groupOfUniqueNames', cn: 'ops', uniqueMember: [PEOPLE.bob.dn] }],
  ];
}

export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  if (!existsSync(SLAPD)) throw new Error(`${SLAPD} is missing: apt-get install -y slapd ldap-utils`);
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-slapd-'));
  mkdirSync(join(dir, 'data'));
  makeCertificates(dir);
  writeFileSync(join(dir, 'slapd.conf'), slapdConf(dir, options.memberOf ?? true));
  const [port, ldapsPort] = [await freePort(), await freePort()];
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
  let output = '';
  // -d stats: stay in the foreground and log every operation to stderr.
  const child = spawn(SLAPD, ['-d', 'stats', '-f', join(dir, 'slapd.conf'), '-h', `${url}/ ${ldapsUrl}/`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child, () => output);
    await waitForPort(ldapsPort, child, () => output);
    const client = new Client({ url, timeout: 5_000 });
    try {
      await client.bind(ROOT_DN, ROOT_PASSWORD);
      for (const [dn, attributes] of seed()) await client.add(dn, attributes);
    } finally {
      await client.unbind();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    ldapsUrl,
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    wrongCa: readFileSync(join(dir, 'wrong-ca.pem'), 'utf8'),
    log: () => output,
    binds: () => [...output.matchAll(/ BIND (dn=".*" method=\d+)/g)].map((m) => m[1] as string),
    stop,
  };
}
