import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { emptyPostgresDatabase, TEST_DATABASE_URL } from './database.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startGatehouse } from './gatehouse.js';
import { freePort } from './oidc.js';

/** Ends a node as an operator would (SIGTERM) and waits for it. */
function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export interface NodeAnswer {
  status: number;
  body: any;
}

/** One Gatehouse node, reached over HTTP (a process) or in-process (inject). */
export interface GatehouseNode {
  request(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, token?: string): Promise<NodeAnswer>;
}

export interface TwoNodes {
  a: GatehouseNode;
  b: GatehouseNode;
  /** "processes": two `gatehouse start` processes on one PostgreSQL; "in-process": two nodes on one PGlite (it has one connection). */
  mode: 'processes' | 'in-process';
  stop(): Promise<void>;
}

const json = (body: unknown): Record<string, string> => (body === undefined ? {} : { 'content-type': 'application/json' });

/**
 * Two Gatehouse nodes sharing one database (and one Redis, when `redisUrl` is given). On
 * PostgreSQL (GATEHOUSE_TEST_DATABASE_URL, as in CI) they are two processes running the
 * real `gatehouse start`; on PGlite, which one process owns, two nodes in this process.
 */
export async function startTwoNodes(config: Record<string, string> = {}): Promise<TwoNodes> {
  if (!TEST_DATABASE_URL) {
    const first = await startGatehouse({ config });
    const second = await startGatehouse({ sameDatabaseAs: first });
    const node = (gh: typeof first): GatehouseNode => ({
      async request(method, path, body, token) {
        const response = await gh.app.inject({
          method,
          url: path,
          headers: { ...json(body), ...(token && { authorization: `Bearer ${token}` }) },
          ...(body !== undefined && { payload: JSON.stringify(body) }),
        });
        return { status: response.statusCode, body: response.body ? response.json() : undefined };
      },
    });
    return {
      a: node(first),
      b: node(second),
      mode: 'in-process',
      async stop() {
        await second.app.close();
        await second.ctx.passwords.close();
        await first.stop();
      },
    };
  }

  const database = await emptyPostgresDatabase(TEST_DATABASE_URL);
  const env = {
    ...process.env,
    GATEHOUSE_DATABASE_URL: database.url,
    GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
    GATEHOUSE_ADMIN_EMAIL: ADMIN_EMAIL,
    GATEHOUSE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    GATEHOUSE_LOG_LEVEL: 'warn',
    // One public URL for both, as behind a load balancer: a token from one node is good on the other.
    GATEHOUSE_ISSUER: 'http://gatehouse.nodes.test',
    ...(config.redisUrl && { GATEHOUSE_REDIS_URL: config.redisUrl }),
  };
  const processes: ChildProcess[] = [];
  const start = async (): Promise<GatehouseNode> => {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./gatehouse-process.ts', import.meta.url).pathname, 'start'], {
      env: { ...env, GATEHOUSE_PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    processes.push(child);
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`gatehouse exited with ${child.exitCode}`);
      const ready = await fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (i > 600) throw new Error('gatehouse did not become ready within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return {
      async request(method, path, body, token) {
        const response = await fetch(`${base}${path}`, {
          method,
          headers: { ...json(body), ...(token && { authorization: `Bearer ${token}` }) },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        return { status: response.status, body: text ? JSON.parse(text) : undefined };
      },
    };
  };
  try {
    // One after the other: the first applies the migrations and seeds the first start.
    const a = await start();
    const b = await start();
    return {
      a,
      b,
      mode: 'processes',
      async stop() {
        await Promise.all(processes.map(stopProcess));
        await database.drop();
      },
    };
  } catch (error) {
    for (const child of processes) child.kill('SIGKILL');
    await database.drop();
    throw error;
  }
}
