import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { type DestinationPolicy, hostOf } from './destinations.js';

/**
 * The one HTTP client for destinations other people chose (webhooks, back-channel logout
 * URIs, the OAuth engine's outbound requests): the address checked against the
 * destination policy (./destinations.ts) is the address connected to.
 */

/**
 * Resolves like dns.lookup, then refuses the connection unless the policy allows every
 * address: the address checked is the address connected to, so a name that resolved to a
 * public address at creation and to an internal one now (DNS rebinding) is refused.
 */
function checkedLookup(policy: DestinationPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const blocked = addresses.find((a) => !policy.allows(a.address));
      if (blocked || addresses.length === 0) {
        return callback(
          Object.assign(new Error(`destination ${hostname} resolves to an address that is not allowed`), { code: 'EBLOCKED' }),
          '',
          0,
        );
      }
      if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      const first = addresses[0] as LookupAddress;
      callback(null, first.address, first.family);
    });
  };
}

/** The outcome of one POST to a destination outside Gatehouse. */
export type PostResult = { ok: true; status: number } | { ok: false; status?: number; error: string };

export interface OutboundClient {
  /** POSTs `body`; 2xx is success, anything else (a redirect too) a failure with its reason. */
  post(url: string, headers: Record<string, string | number>, body: string): Promise<PostResult>;
  close(): void;
}

interface Exchange {
  method: string;
  headers: Record<string, string | number>;
  body: string;
  signal: AbortSignal;
  /** At most this much of the answer is kept; 0: it is read and dropped. */
  keepBytes: number;
  /** Keep-alive agents (false: one connection for this request). */
  agent: http.Agent | false;
  lookup: LookupFunction;
}

/**
 * One request to a destination other people chose: an IP literal is judged before
 * connecting, a name by the lookup as it connects, so the address checked is the address
 * connected to. Rejects when refused, on a network error or time-out, or when the answer
 * is longer than `keepBytes` (unless it is dropped).
 */
function exchange(
  policy: DestinationPolicy,
  url: URL,
  options: Exchange,
): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  const host = hostOf(url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return Promise.reject(new Error(`${url.protocol} is not http(s)`));
  if (isIP(host) && !policy.allows(host)) return Promise.reject(new Error(`destination ${host} is not allowed`));
  const transport = url.protocol === 'https:' ? https : http;
  const { method, headers, body, signal, keepBytes, agent, lookup } = options;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      url,
      { method, agent, lookup, signal, headers: { 'content-length': Buffer.byteLength(body), ...headers } },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let length = 0;
        response.on('data', (chunk: Buffer) => {
          if (keepBytes === 0) return;
          length += chunk.length;
          if (length > keepBytes) response.destroy(new Error(`the answer is longer than ${keepBytes} bytes`));
          else chunks.push(chunk);
        });
        response.on('end', () => resolve({ status, headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
        response.on('close', () => reject(new Error('the connection closed before the answer ended')));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const timeoutMessage = (error: Error, timeoutMs: number) =>
  error.name === 'AbortError' || error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : error.message;

/**
 * POSTs to destinations other people chose (webhooks, back-channel logout URIs):
 * keep-alive connections, a time limit for the whole exchange, no redirects followed (a
 * 3xx is a failure), and the destination checked at connect time (no SSRF, no DNS rebinding).
 */
export function createOutboundClient(policy: DestinationPolicy, timeoutMs: number): OutboundClient {
  const lookup = checkedLookup(policy);
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 16, lookup } as http.AgentOptions),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 16, lookup } as https.AgentOptions),
  };
  return {
    async post(target, headers, body) {
      const url = new URL(target);
      const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        const { status } = await exchange(policy, url, { method: 'POST', headers, body, signal, keepBytes: 0, agent, lookup });
        return status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` };
      } catch (error) {
        return { ok: false, error: timeoutMessage(error as Error, timeoutMs) };
      }
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

/** Statuses whose answer has no body (a Response refuses one). */
const NO_BODY = new Set([101, 204, 205, 304]);

/**
 * A `fetch` for the OAuth engine's outbound requests (oidc-provider's `fetch` option: its
 * back-channel logout at sign-out, and any other URL it may fetch), through the same checked
 * connection as webhooks (decision 204): the engine's own guard only drops a connection to a
 * special-use address after opening it. One connection per request, no redirects followed,
 * at most 1 MiB of answer.
 */
export function checkedFetch(policy: DestinationPolicy, timeoutMs: number) {
  const lookup = checkedLookup(policy);
  return async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const body = init.body ?? '';
    if (typeof body !== 'string' && !(body instanceof URLSearchParams)) throw new TypeError('Only text and form bodies are sent');
    const headers = Object.fromEntries(new Headers(init.headers));
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(init.signal ? [init.signal] : [])]);
    const url = new URL(input instanceof Request ? input.url : String(input));
    const answer = await exchange(policy, url, {
      method: init.method ?? 'GET',
      headers,
      body: body.toString(),
      signal,
      keepBytes: 1024 * 1024,
      agent: false,
      lookup,
    }).catch((error: Error) => {
      throw new TypeError(`fetch ${url.origin} failed: ${timeoutMessage(error, timeoutMs)}`, { cause: error });
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(answer.headers)) {
      for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) responseHeaders.append(name, one);
    }
    return new Response(NO_BODY.has(answer.status) ? null : answer.body, { status: answer.status, headers: responseHeaders });
  };
}
