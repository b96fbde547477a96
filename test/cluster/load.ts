import { decodeJwt } from 'jose';
import type { Cluster } from './cluster.js';

/**
 * Mixed load through the balancer, as the fault tests need it: machine tokens, user
 * creation, sign-ins and refresh-token rotations, from a few workers each with one request
 * in flight. Every answer is kept (status, time, node, Retry-After), and so is every write
 * the cluster acknowledged, to look for it afterwards.
 */

export type Operation = 'token' | 'user' | 'signin' | 'refresh';

export interface Outcome {
  op: Operation;
  /** The HTTP status, `error` (the connection failed) or `timeout` (no answer within the limit). */
  status: number | 'error' | 'timeout';
  ms: number;
  node: string;
  retryAfter: string | null;
  /** When the request was sent (epoch ms). */
  at: number;
  /** Why the request failed without an answer (the error's code or message). */
  error?: string;
}

export interface LoadFixture {
  tenant: string;
  admin: string;
  audience: string;
  machine: { client_id: string; client_secret: string };
  /** An application with the password and refresh_token grants, in `tenant` (MFA off). */
  rotator: { client_id: string; client_secret: string };
  /** Users of `tenant` (MFA off) who sign in with `password`. */
  signers: string[];
  password: string;
}

export interface Load {
  outcomes: Outcome[];
  /** Users whose creation answered 201. */
  users: string[];
  /** Session tokens of sign-ins that answered 200. */
  sessions: string[];
  /** jti of the machine tokens answered 200. */
  tokenIds: string[];
  /** The refresh tokens each worker holds, each last answered 200 (undefined: the last rotation was not acknowledged). */
  refreshTokens: (string | undefined)[];
  /** Requests in flight now. */
  inFlight(): number;
  stop(): Promise<void>;
}

export const REQUEST_TIMEOUT_MS = 15_000;
let runs = 0;

export function startLoad(cluster: Cluster, fixture: LoadFixture, options: { workers?: number; ops?: Operation[] } = {}): Load {
  const run = `${Date.now().toString(36)}${runs++}`;
  const ops = options.ops ?? ['token', 'user', 'signin', 'refresh'];
  const workers = options.workers ?? 6;
  let stopping = false;
  let flying = 0;
  let created = 0;
  const chains: { token: string | undefined; clean: boolean }[] = Array.from({ length: workers }, () => ({
    token: undefined,
    clean: true,
  }));
  const load: Load = {
    outcomes: [],
    users: [],
    sessions: [],
    tokenIds: [],
    refreshTokens: [],
    inFlight: () => flying,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      load.refreshTokens = chains.map((chain) => (chain.clean ? chain.token : undefined));
    },
  };

  const send = async (op: Operation, path: string, body: Record<string, string>, form: boolean, token?: string) => {
    const at = Date.now();
    flying++;
    try {
      const response = await fetch(`${cluster.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json',
          ...(token && { authorization: `Bearer ${token}` }),
        },
        body: form ? new URLSearchParams(body).toString() : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const text = await response.text();
      const outcome: Outcome = {
        op,
        status: response.status,
        ms: Date.now() - at,
        node: response.headers.get('x-gatehouse-node') ?? '',
        retryAfter: response.headers.get('retry-after'),
        at,
      };
      load.outcomes.push(outcome);
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, json };
    } catch (error) {
      const timeout = (error as Error).name === 'TimeoutError';
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      load.outcomes.push({
        op,
        status: timeout ? 'timeout' : 'error',
        ms: Date.now() - at,
        node: '',
        retryAfter: null,
        at,
        error: cause?.code ?? cause?.message ?? (error as Error).message,
      });
      return { status: 0, json: undefined };
    } finally {
      flying--;
    }
  };

  const step = async (worker: number, op: Operation) => {
    if (op === 'token') {
      const answer = await send(
        op,
        '/oauth/token',
        { grant_type: 'client_credentials', audience: fixture.audience, ...fixture.machine },
        true,
      );
      if (answer.status === 200) load.tokenIds.push(decodeJwt(answer.json.access_token).jti as string);
    } else if (op === 'user') {
      const email = `load-${run}-${created++}@cluster.test`;
      const answer = await send(op, '/api/v1/users', { email, password: fixture.password, tenant: fixture.tenant }, false, fixture.admin);
      if (answer.status === 201) load.users.push(answer.json.id);
    } else if (op === 'signin') {
      const username = fixture.signers[worker % fixture.signers.length] as string;
      const answer = await send(op, '/api/v1/session', { username, password: fixture.password }, false);
      if (answer.status === 200) load.sessions.push(answer.json.token);
    } else {
      const chain = chains[worker] as { token: string | undefined; clean: boolean };
      const username = fixture.signers[worker % fixture.signers.length] as string;
      const answer = chain.token
        ? await send(op, '/oauth/token', { grant_type: 'refresh_token', refresh_token: chain.token, ...fixture.rotator }, true)
        : await send(
            op,
            '/oauth/token',
            { grant_type: 'password', username, password: fixture.password, scope: 'openid offline_access', ...fixture.rotator },
            true,
          );
      // A rotation whose answer was lost may have been applied: the chain is then unknown, and a new one starts.
      chain.token = answer.status === 200 ? answer.json.refresh_token : undefined;
      chain.clean = answer.status === 200;
    }
  };

  const loops = Array.from({ length: workers }, async (_, worker) => {
    for (let i = 0; !stopping; i++) {
      const seen = load.outcomes.length;
      await step(worker, ops[(worker + i) % ops.length] as Operation);
      const last = load.outcomes[seen];
      // A client backs off a little after a failure (the answers to count are kept all the same).
      if (last && (typeof last.status !== 'number' || last.status >= 500)) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  return load;
}

/** Counts of the outcomes by status (and op), for the report. */
export function tally(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[String(o.status)] = (counts[String(o.status)] ?? 0) + 1;
  return counts;
}

export const failed = (outcomes: Outcome[]) => outcomes.filter((o) => typeof o.status !== 'number' || o.status >= 500);
