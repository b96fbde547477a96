import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../helpers/smtp.js';
import { type OwnPostgres, type OwnRedis, startOwnPostgres, startOwnRedis, startTcpProxy, type TcpProxy, waitForPort } from './services.js';

/**
 * Three `gatehouse start` processes (the compiled dist/, as an operator runs them) behind
 * HAProxy, on a PostgreSQL and a Redis of the test's own, with RabbitMQ reached through a
 * TCP proxy the test can cut. HAProxy's configuration and the nodes' environment are the
 * ones docs/operations.md ("Run a cluster") shows: the test reads them from there.
 */

export const ADMIN_EMAIL = 'admin@cluster.test';
export const ADMIN_PASSWORD = 'admin-password-for-the-cluster';
export const PASSWORD = 'a-long-cluster-password';
const ROOT = new URL('../../', import.meta.url).pathname;
const OPERATIONS = join(ROOT, 'docs/operations.md');
const HAPROXY = '/usr/sbin/haproxy';
/** The response header the documented HAProxy configuration adds: the name of the node that answered. */
export const NODE_HEADER = 'x-gatehouse-node';
/** The shared RabbitMQ (never stopped: the nodes reach it through a proxy the test cuts). */
export const RABBITMQ_URL = process.env.GATEHOUSE_TEST_AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672';
const RABBITMQ = new URL(RABBITMQ_URL);

/** The fenced block that follows `<!-- cluster: NAME -->` in docs/operations.md. */
export function documentedBlock(name: string): string {
  const text = readFileSync(OPERATIONS, 'utf8');
  const marker = text.indexOf(`<!-- cluster: ${name} -->`);
  if (marker < 0) throw new Error(`docs/operations.md has no "<!-- cluster: ${name} -->" block`);
  const block = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(marker));
  if (!block) throw new Error(`No code block after "<!-- cluster: ${name} -->"`);
  return block[1] as string;
}

/** The variable names of the documented node environment. */
export const documentedEnvironment = (): string[] =>
  documentedBlock('node environment')
    .split('\n')
    .map((line) => /^([A-Z_]+)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);

/** The documented haproxy.cfg, listening on `port` and balancing over `nodePorts` on 127.0.0.1. */
export function haproxyConfig(port: number, nodePorts: number[]): string {
  let server = 0;
  const config = documentedBlock('haproxy.cfg')
    .replace(/^(\s*)bind \S+/m, `$1bind 127.0.0.1:${port}`)
    .replace(/^(\s*server \S+) \S+:\d+/gm, (_line, head: string) => {
      const nodePort = nodePorts[server++];
      if (nodePort === undefined) throw new Error('The documented configuration has more servers than the test starts');
      return `${head} 127.0.0.1:${nodePort}`;
    });
  if (server !== nodePorts.length)
    throw new Error(`The documented configuration has ${server} servers, the test starts ${nodePorts.length}`);
  return config;
}

export interface ClusterNode {
  name: string;
  port: number;
  url: string;
  child: ChildProcess | undefined;
  /** Where the node's stdout and stderr go (appended across restarts). */
  log: string;
}

export interface Cluster {
  /** The balancer's URL, which is also the issuer. */
  url: string;
  nodes: ClusterNode[];
  pg: OwnPostgres;
  databaseUrl: string;
  redis: OwnRedis;
  /** In front of the shared RabbitMQ; every node's GATEHOUSE_AMQP_URL points here. */
  amqp: TcpProxy;
  smtp: SmtpPeer;
  /** The environment every node starts with. */
  env: Record<string, string>;
  /** A request through the balancer; `node` is the HAProxy server that answered. */
  request(path: string, init?: RequestInit): Promise<{ status: number; body: any; node: string; headers: Headers }>;
  /** The system administrator's access token (signed in through the balancer). */
  adminToken(): Promise<string>;
  /** A SQL query on the cluster's database (a fresh connection each time: the server may have restarted). */
  sql<T = any>(text: string, params?: unknown[]): Promise<T[]>;
  /** Starts node `i` (again) and waits until it answers /readyz itself. */
  startNode(i: number, env?: Record<string, string>): Promise<void>;
  /** Sends `signal` to node `i`; resolves with its exit code (or signal name) once it has exited. */
  signal(i: number, signal: NodeJS.Signals): Promise<string>;
  /** Waits until the balancer has routed to every node (each back in rotation); fails at once if one is not running. */
  inRotation(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The nodes run the compiled dist/ (as `gatehouse start` does): refuse to test a build older than the source. */
function checkBuild(): void {
  const built = join(ROOT, 'dist/.tsbuildinfo');
  if (!existsSync(built)) throw new Error('No dist/: run `npm run build` before the cluster tests');
  const builtAt = statSync(built).mtimeMs;
  const newer = readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true }).find(
    (entry) => entry.isFile() && statSync(join(entry.parentPath, entry.name)).mtimeMs > builtAt,
  );
  if (newer) throw new Error(`dist/ is older than src/ (${newer.name}): run \`npm run build\` before the cluster tests`);
}

/** Starts the dependencies, the three nodes (the first alone: it migrates and seeds) and HAProxy. */
export async function startCluster(options: { nodes?: number } = {}): Promise<Cluster> {
  checkBuild();
  const count = options.nodes ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  const pgServer = await startOwnPostgres();
  const databaseUrl = await pgServer.createDatabase(`gatehouse_cluster_${randomBytes(4).toString('hex')}`);
  const redis = await startOwnRedis();
  const amqp = await startTcpProxy(RABBITMQ.hostname, Number(RABBITMQ.port || 5672));
  const smtp = await startSmtpPeer();
  const lbPort = await freePort();
  const url = `http://127.0.0.1:${lbPort}`;
  const nodePorts: number[] = [];
  for (let i = 0; i < count; i++) nodePorts.push(await freePort());

  const env: Record<string, string> = {
    NODE_ENV: 'production',
    GATEHOUSE_HOST: '127.0.0.1',
    GATEHOUSE_PORT: '',
    GATEHOUSE_ISSUER: url,
    GATEHOUSE_DATABASE_URL: databaseUrl,
    GATEHOUSE_REDIS_URL: redis.url,
    GATEHOUSE_REDIS_FAILURE: 'fallback',
    GATEHOUSE_AMQP_URL: `amqp://${RABBITMQ.username}:${RABBITMQ.password}@127.0.0.1:${amqp.port}`,
    GATEHOUSE_SMTP_URL: smtp.url,
    GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
    GATEHOUSE_TRUST_PROXY: '127.0.0.1',
    GATEHOUSE_ADMIN_EMAIL: ADMIN_EMAIL,
    GATEHOUSE_ADMIN_PASSWORD: ADMIN_PASSWORD,
  };
  const documented = documentedEnvironment().sort();
  if (JSON.stringify(documented) !== JSON.stringify(Object.keys(env).sort())) {
    throw new Error(`The test's node environment (${Object.keys(env).sort()}) differs from docs/operations.md's (${documented})`);
  }
  // Not in the documented environment: the test's own settings (webhooks to the loopback receiver, quieter logs).
  const testOnly = { GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32', GATEHOUSE_LOG_LEVEL: 'warn' };

  const nodes: ClusterNode[] = nodePorts.map((port, i) => ({
    name: `gatehouse${i + 1}`,
    port,
    url: `http://127.0.0.1:${port}`,
    child: undefined,
    log: join(dir, `gatehouse${i + 1}.log`),
  }));

  const startNode = async (i: number, extra: Record<string, string> = {}) => {
    const node = nodes[i] as ClusterNode;
    const fd = openSync(node.log, 'a');
    const child = spawn(process.execPath, [join(ROOT, 'bin/gatehouse.js'), 'start'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env, ...testOnly, GATEHOUSE_PORT: String(node.port), ...extra },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    node.child = child;
    for (let tries = 0; ; tries++) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`${node.name} exited (${child.exitCode ?? child.signalCode}) while starting:\n${tail(node.log)}`);
      }
      const ready = await fetch(`${node.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return;
      if (tries > 600) throw new Error(`${node.name} was not ready within 60 s:\n${tail(node.log)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  const signal = async (i: number, name: NodeJS.Signals): Promise<string> => {
    const child = (nodes[i] as ClusterNode).child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return String(child?.exitCode ?? child?.signalCode);
    const exited = once(child, 'exit');
    child.kill(name);
    const [code, signalCode] = (await exited) as [number | null, string | null];
    return String(code ?? signalCode);
  };

  let haproxy: ChildProcess | undefined;
  const request: Cluster['request'] = async (path, init = {}) => {
    const response = await fetch(`${url}${path}`, { redirect: 'manual', signal: AbortSignal.timeout(30_000), ...init });
    const text = await response.text();
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: the text
    }
    return { status: response.status, body, node: response.headers.get(NODE_HEADER) ?? '', headers: response.headers };
  };

  const cluster: Cluster = {
    url,
    nodes,
    pg: pgServer,
    databaseUrl,
    redis,
    amqp,
    smtp,
    env,
    request,
    async adminToken() {
      const json = { 'content-type': 'application/json' };
      const session = await request('/api/v1/session', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ username: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
      });
      if (session.status !== 200) throw new Error(`admin sign-in: ${session.status} ${JSON.stringify(session.body)}`);
      const token = await request('/api/v1/token', {
        method: 'POST',
        headers: { ...json, authorization: `Bearer ${session.body.token}` },
        body: JSON.stringify({ organization: 'system' }),
      });
      if (token.status !== 200) throw new Error(`admin token: ${token.status} ${JSON.stringify(token.body)}`);
      return token.body.token as string;
    },
    async sql(text, params = []) {
      const client = new pg.Client({ connectionString: databaseUrl });
      client.on('error', () => {});
      await client.connect();
      try {
        return (await client.query(text, params)).rows;
      } finally {
        await client.end();
      }
    },
    startNode,
    signal,
    async inRotation(timeoutMs = 15_000) {
      const seen = new Set<string>();
      const deadline = Date.now() + timeoutMs;
      while (nodes.some((node) => !seen.has(node.name))) {
        const exited = nodes.filter((n) => !n.child || n.child.exitCode !== null || n.child.signalCode !== null);
        if (exited.length > 0)
          throw new Error(`Not running: ${exited.map((n) => `${n.name} (${n.child?.exitCode ?? n.child?.signalCode})`)}`);
        if (Date.now() > deadline)
          throw new Error(`Not back in rotation within ${timeoutMs} ms: ${nodes.filter((n) => !seen.has(n.name)).map((n) => n.name)}`);
        const answer = await request('/readyz').catch(() => undefined);
        if (answer?.status === 200) seen.add(answer.node);
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      haproxy?.kill('SIGKILL');
      await Promise.all(nodes.map((_node, i) => signal(i, 'SIGKILL')));
      await amqp.close();
      await smtp.stop();
      await redis.stop();
      pgServer.destroy();
      if (!process.env.GATEHOUSE_CLUSTER_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await startNode(0);
    await Promise.all(nodes.slice(1).map((_node, i) => startNode(i + 1)));
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, haproxyConfig(lbPort, nodePorts));
    haproxy = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitForPort(lbPort, 10_000);
    await cluster.inRotation();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** The last lines of a log file (for a node that failed to start). */
export function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
