import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';

/**
 * The `gatehouse` CLI as a user runs it: real processes on a real PGlite data directory.
 * The entry runs src/cli.ts through tsx (bin/gatehouse.js runs the same main() from dist/).
 * Each process opens PGlite, which takes seconds: the steps below share processes and
 * data directories, and run in order.
 */
const ROOT = new URL('../../..', import.meta.url).pathname;
const CLI = new URL('../../../src/main/cli.ts', import.meta.url).href;
const ENTRY = `import(${JSON.stringify(CLI)}).then((m) => m.main(['node', 'gatehouse', ...process.argv.slice(1)]))`;
const STEP = { timeout: 120_000 };
const DEFAULT_ADMIN = 'admin@gatehouse.local';
const OPS_EMAIL = 'ops@cli.test';

interface Run {
  child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches, rejects when the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** A clean environment: none of the caller's GATEHOUSE_* settings leak into the child. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('GATEHOUSE_') || name === 'NODE_ENV' || name.startsWith('NODE_TEST')) continue;
    env[name] = value;
  }
  return { ...env, GATEHOUSE_LOG_LEVEL: 'info', ...extra };
}

function gatehouse(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', ENTRY, ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let text = '';
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
      for (const listener of listeners) listener();
    });
  });
  let done = false;
  exited.then(() => {
    done = true;
  });
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) {
            listeners.delete(check);
            resolve(match);
          } else if (done || child.exitCode !== null) {
            listeners.delete(check);
            reject(new Error(`gatehouse ${args.join(' ')} exited before printing ${pattern}:\n${text}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs a one-shot command to its end. */
async function runToEnd(args: string[], env: Record<string, string>) {
  const run = gatehouse(args, env);
  const { code } = await run.exited;
  return { code, output: run.output() };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

/** The JSON log lines a process wrote (pino, one object per line). */
function logLines(output: string): Array<Record<string, any>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

async function post(base: string, path: string, body: unknown, token?: string) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

async function stop(run: Run) {
  run.child.kill('SIGTERM');
  return run.exited;
}

describe('gatehouse CLI: start, migrate, admin create, keys rotate, users export and import', () => {
  let dataDir: string;
  let port: number;
  let base: string;
  let generatedPassword: string;
  let kids: string[];

  const env = () => ({ GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_PORT: String(port) });
  const jwksKid = async () =>
    ((await (await fetch(`${base}/.well-known/jwks.json`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
  });
  after(() => {
    for (const child of running) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('a first start on an empty data directory', () => {
    let first: Run;
    after(async () => {
      if (first && first.child.exitCode === null) await stop(first);
    });

    it('creates the first administrator with a generated password printed once, and logs the URLs it serves', STEP, async () => {
      first = gatehouse(['start'], env());
      await first.waitFor(/Gatehouse listening on/);
      const output = first.output();
      const [, email, password] = output.match(/email:\s+(\S+)\s*\n\s*password:\s+(\S+)/) ?? [];
      assert.equal(email, DEFAULT_ADMIN);
      assert.ok(password && password.length >= 16, 'a generated password is printed');
      generatedPassword = password;
      assert.equal(output.split(generatedPassword).length - 1, 1, 'the password appears once in the output');

      const listening = logLines(output).find((line) => String(line.msg).startsWith('Gatehouse listening on'));
      assert.ok(listening, 'a log line announces the server');
      assert.equal(listening.msg, `Gatehouse listening on ${base}`);
      assert.equal(listening.issuer, `http://localhost:${port}`);
      assert.equal(listening.api, `http://localhost:${port}/api/v1`);
      assert.equal(listening.openapi, `http://localhost:${port}/api/v1/openapi.json`);
      assert.equal(listening.jwks, `http://localhost:${port}/.well-known/jwks.json`);
      assert.equal(listening.health, `${base}/healthz`);
      assert.match(listening.database, /^pglite/);
      assert.ok(
        logLines(output).some((line) => line.level === 40 && /GATEHOUSE_MASTER_KEY/.test(line.msg)),
        'a loud warning: the development master key was generated',
      );
      assert.ok(existsSync(join(dataDir, 'master.key')));
    });

    it('answers /healthz and /readyz, and the printed password signs in and gets a system token', STEP, async () => {
      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), { status: 'ready' });

      const session = await post(base, '/api/v1/session', { username: DEFAULT_ADMIN, password: generatedPassword });
      assert.equal(session.status, 200, JSON.stringify(session.body));
      const token = await post(base, '/api/v1/token', { organization: 'system' }, session.body.token);
      assert.equal(token.status, 200);
      assert.deepEqual(decodeJwt(token.body.token).permissions, ['all']);
      kids = await jwksKid();
      assert.equal(kids.length, 4, 'a current and a next key for RS256 and ES256');
    });

    it('refuses a second process on the same data directory with a clear message, and the first keeps serving', STEP, async () => {
      const second = await runToEnd(['start'], { ...env(), GATEHOUSE_PORT: String(await freePort()) });
      assert.notEqual(second.code, 0);
      assert.match(second.output, new RegExp(`gatehouse: The embedded database in .* is in use by process ${first.child.pid}`));
      assert.doesNotMatch(second.output, /\n\s+at /, 'a message, not a stack trace');
      assert.doesNotMatch(second.output, /password:/, 'no administrator was created');
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.ok(existsSync(join(dataDir, 'pglite.pid')), 'the first process still holds the lock');
    });

    it('stops on SIGTERM with exit code 0 and releases the data directory', STEP, async () => {
      const { code } = await stop(first);
      assert.equal(code, 0);
      assert.equal(existsSync(join(dataDir, 'pglite.pid')), false);
    });
  });

  describe('migrate and admin create on the stopped data directory', () => {
    it('`migrate` exits 0 and reports that the database is up to date', STEP, async () => {
      const { code, output } = await runToEnd(['migrate'], env());
      assert.equal(code, 0, output);
      assert.ok(
        logLines(output).some((line) => line.msg === 'Database is up to date' && Array.isArray(line.applied) && line.applied.length === 0),
      );
    });

    it('`migrate` on an empty data directory applies the migrations and exits 0', STEP, async () => {
      const empty = mkdtempSync(join(tmpdir(), 'gatehouse-cli-migrate-'));
      try {
        const { code, output } = await runToEnd(['migrate'], { GATEHOUSE_DATA_DIR: empty });
        assert.equal(code, 0, output);
        const line = logLines(output).find((l) => l.msg === 'Migrations applied');
        assert.ok(line, output);
        assert.ok(line.applied.includes('0001_foundation'));
        assert.equal(existsSync(join(empty, 'pglite.pid')), false, 'the lock is released on exit');
      } finally {
        rmSync(empty, { recursive: true, force: true });
      }
    });

    it('`admin create --email --password` creates a system administrator; again for the same email resets the password', STEP, async () => {
      const created = await runToEnd(['admin', 'create', '--email', OPS_EMAIL, '--password', 'ops-first-password-1'], env());
      assert.equal(created.code, 0, created.output);
      assert.match(created.output, new RegExp(`Created system administrator ${OPS_EMAIL}`));
      assert.ok(!created.output.includes('ops-first-password-1'), 'the given password is not echoed');

      const reset = await runToEnd(['admin', 'create', '--email', OPS_EMAIL.toUpperCase(), '--password', 'ops-second-password-2'], env());
      assert.equal(reset.code, 0, reset.output);
      assert.match(reset.output, new RegExp(`Reset system administrator ${OPS_EMAIL.toUpperCase()}`));
      assert.ok(!reset.output.includes('ops-second-password-2'));
    });

    it('`admin create` with a password under 10 characters fails with a message and creates nobody', STEP, async () => {
      const { code, output } = await runToEnd(['admin', 'create', '--email', 'short@cli.test', '--password', 'short'], env());
      assert.notEqual(code, 0);
      assert.match(output, /gatehouse: .*10/);
      assert.doesNotMatch(output, /Created system administrator/);
    });
  });

  describe('a second start on the same data directory', () => {
    let again: Run;
    after(async () => {
      if (again && again.child.exitCode === null) await stop(again);
    });

    it('reuses the data: no new password is printed, the same signing keys are published', STEP, async () => {
      again = gatehouse(['start'], env());
      await again.waitFor(/Gatehouse listening on/);
      assert.doesNotMatch(again.output(), /password:/);
      assert.doesNotMatch(again.output(), /First start/);
      assert.deepEqual((await jwksKid()).sort(), [...kids].sort());
    });

    it('the first administrator’s password still works', STEP, async () => {
      const session = await post(base, '/api/v1/session', { username: DEFAULT_ADMIN, password: generatedPassword });
      assert.equal(session.status, 200, JSON.stringify(session.body));
    });

    it(
      'the administrator from `admin create` signs in with the reset password and gets a system token with permissions ["all"]',
      STEP,
      async () => {
        const old = await post(base, '/api/v1/session', { username: OPS_EMAIL, password: 'ops-first-password-1' });
        assert.equal(old.status, 401);
        assert.equal(old.body.error, 'invalid_credentials');
        const session = await post(base, '/api/v1/session', { username: OPS_EMAIL, password: 'ops-second-password-2' });
        assert.equal(session.status, 200, JSON.stringify(session.body));
        const token = await post(base, '/api/v1/token', { organization: 'system' }, session.body.token);
        assert.equal(token.status, 200, JSON.stringify(token.body));
        const claims = decodeJwt(token.body.token);
        assert.deepEqual(claims.permissions, ['all']);
        assert.deepEqual(claims.roles, ['ADMIN']);
        assert.equal(claims.email, OPS_EMAIL);
        const short = await post(base, '/api/v1/session', { username: 'short@cli.test', password: 'short' });
        assert.equal(short.status, 401);
      },
    );

    it('stops on SIGTERM with exit code 0', STEP, async () => {
      assert.equal((await stop(again)).code, 0);
    });
  });

  describe('keys rotate', () => {
    const ROTATED = /^Rotated the (RS256|ES256) keys: current (\S+), retired (\S+), next (\S+)$/gm;
    const rotations = (output: string) =>
      [...output.matchAll(ROTATED)].map(([, alg, current, retired, next]) => ({ alg, current, retired, next }));
    let all: ReturnType<typeof rotations>;
    let es: ReturnType<typeof rotations>;
    let served: Run;
    after(async () => {
      if (served && served.child.exitCode === null) await stop(served);
    });

    it('`keys rotate` makes the next keys current and prints the new kids of both algorithms', STEP, async () => {
      const { code, output } = await runToEnd(['keys', 'rotate'], env());
      assert.equal(code, 0, output);
      all = rotations(output);
      assert.deepEqual(
        all.map((r) => r.alg),
        ['RS256', 'ES256'],
        output,
      );
      for (const r of all) {
        assert.ok(kids.includes(r.current!), `${r.alg}: the new current key was published before, as next`);
        assert.ok(kids.includes(r.retired!), `${r.alg}: the retired key was the current one`);
        assert.ok(!kids.includes(r.next!), `${r.alg}: a new next key`);
      }
    });

    it('`keys rotate --alg ES256` rotates only the ES256 keys; an unknown algorithm is refused', STEP, async () => {
      const { code, output } = await runToEnd(['keys', 'rotate', '--alg', 'ES256'], env());
      assert.equal(code, 0, output);
      es = rotations(output);
      assert.equal(es.length, 1, output);
      assert.equal(es[0]!.alg, 'ES256');
      assert.equal(es[0]!.current, all[1]!.next, 'the ES256 next key of the previous rotation');
      const refused = await runToEnd(['keys', 'rotate', '--alg', 'HS256'], env());
      assert.notEqual(refused.code, 0);
      assert.match(refused.output, /RS256, ES256/);
      assert.doesNotMatch(refused.output, /Rotated/);
    });

    it('the server then publishes the new keys and the retired ones, and the audit trail names the CLI', STEP, async () => {
      served = gatehouse(['start'], env());
      await served.waitFor(/Gatehouse listening on/);
      const published = new Set(await jwksKid());
      for (const r of [...all, ...es]) for (const kid of [r.current!, r.retired!, r.next!]) assert.ok(published.has(kid), kid);
      assert.equal(published.size, 7, 'RS256: current, next, retired; ES256: current, next, two retired');

      const session = await post(base, '/api/v1/session', { username: DEFAULT_ADMIN, password: generatedPassword });
      const token = (await post(base, '/api/v1/token', { organization: 'system' }, session.body.token)).body.token;
      const response = await fetch(`${base}/api/v1/audit-events?action=iam.key.rotated`, { headers: { authorization: `Bearer ${token}` } });
      const { events } = (await response.json()) as {
        events: Array<{ actor_type: string; actor_id: string }>;
      };
      assert.equal(events.length, 3);
      for (const event of events) assert.deepEqual([event.actor_type, event.actor_id], ['system', 'cli']);
      assert.equal(decodeProtectedHeader(token).kid, all[0]!.current, 'tokens carry the new RS256 kid');
      assert.equal((await stop(served)).code, 0);
    });
  });

  describe('users export and users import', () => {
    const FRESH_ADMIN = 'root@fresh.test';
    const FRESH_PASSWORD = 'fresh-admin-password-1';
    let work: string;
    let fresh: string;
    let exported: string;
    let passphraseFile: string;
    let served: Run;
    const freshEnv = () => ({
      GATEHOUSE_DATA_DIR: fresh,
      GATEHOUSE_PORT: String(port),
      GATEHOUSE_ADMIN_EMAIL: FRESH_ADMIN,
      GATEHOUSE_ADMIN_PASSWORD: FRESH_PASSWORD,
    });
    before(() => {
      work = mkdtempSync(join(tmpdir(), 'gatehouse-cli-users-'));
      fresh = mkdtempSync(join(tmpdir(), 'gatehouse-cli-fresh-'));
      exported = join(work, 'users.jsonl');
      passphraseFile = join(work, 'passphrase');
      writeFileSync(passphraseFile, 'a long export passphrase for the cli\n', { mode: 0o600 });
    });
    after(async () => {
      if (served && served.child.exitCode === null) await stop(served);
      rmSync(work, { recursive: true, force: true });
      rmSync(fresh, { recursive: true, force: true });
    });

    it('`users export FILE` writes the encrypted export (mode 0600) and prints how many users it holds', STEP, async () => {
      const { code, output } = await runToEnd(['users', 'export', exported, '--passphrase-file', passphraseFile], env());
      assert.equal(code, 0, output);
      assert.match(output, new RegExp(`Exported 2 users to ${exported.replaceAll('.', '\\.')}`));
      assert.equal(statSync(exported).mode & 0o777, 0o600);
      const lines = readFileSync(exported, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.equal(lines[0].format, 'gatehouse-users');
      assert.deepEqual(
        lines
          .slice(1)
          .map((l) => l.email)
          .sort(),
        [DEFAULT_ADMIN, OPS_EMAIL],
      );
      assert.ok(
        lines.slice(1).every((l) => typeof l.password_hash.enc === 'string'),
        'password hashes are encrypted',
      );
    });

    it('`users export` never writes through a symlink at FILE.partial; a stale .partial of ours is replaced, mode 0600', STEP, async () => {
      const victim = join(work, 'victim.txt');
      writeFileSync(victim, 'keep me\n', { mode: 0o644 });
      const target = join(work, 'linked.jsonl');
      symlinkSync(victim, `${target}.partial`);
      const refused = await runToEnd(['users', 'export', target, '--passphrase-file', passphraseFile], env());
      assert.equal(refused.code, 2, refused.output);
      assert.match(refused.output, /linked\.jsonl\.partial exists and is not a regular file of this user/);
      assert.equal(readFileSync(victim, 'utf8'), 'keep me\n');
      assert.ok(lstatSync(`${target}.partial`).isSymbolicLink(), 'the symlink is left alone');
      assert.ok(!existsSync(target));

      const stale = join(work, 'stale.jsonl');
      writeFileSync(`${stale}.partial`, 'left by a killed export', { mode: 0o644 });
      const { code, output } = await runToEnd(['users', 'export', stale, '--passphrase-file', passphraseFile], env());
      assert.equal(code, 0, output);
      assert.equal(statSync(stale).mode & 0o777, 0o600);
      assert.equal(JSON.parse(readFileSync(stale, 'utf8').split('\n')[0]!).format, 'gatehouse-users');
      assert.ok(!existsSync(`${stale}.partial`));
    });

    it(
      '`users import FILE` into an empty data directory: without the passphrase it fails and writes nothing; with it, everyone comes along',
      STEP,
      async () => {
        const refused = await runToEnd(['users', 'import', exported], freshEnv());
        assert.notEqual(refused.code, 0);
        assert.match(refused.output, /gatehouse: .*passphrase/);
        const { code, output } = await runToEnd(['users', 'import', exported, '--passphrase-file', passphraseFile], freshEnv());
        assert.equal(code, 0, output);
        assert.match(output, /Imported 2 new and 0 existing users from .*; 0 records failed/);
      },
    );

    it(
      'the imported system administrator signs in there with the old password and is a system administrator; so is the fresh one',
      STEP,
      async () => {
        served = gatehouse(['start'], freshEnv());
        await served.waitFor(/Gatehouse listening on/);
        for (const [email, password] of [
          [OPS_EMAIL, 'ops-second-password-2'],
          [FRESH_ADMIN, FRESH_PASSWORD],
        ] as const) {
          const session = await post(base, '/api/v1/session', { username: email, password });
          assert.equal(session.status, 200, `${email}: ${JSON.stringify(session.body)}`);
          const token = await post(base, '/api/v1/token', { organization: 'system' }, session.body.token);
          assert.equal(token.status, 200, JSON.stringify(token.body));
          assert.deepEqual(decodeJwt(token.body.token).roles, ['ADMIN'], email);
        }
        assert.equal((await stop(served)).code, 0);
      },
    );
  });
});
