import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { type DestinationPolicy, hostOf } from './destinations.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';

export interface WebhookRequest {
  url: string;
  secret: string;
  body: string;
  event: string;
  eventId: string;
  deliveryId: string;
  /** Unix seconds, signed with the body. */
  timestamp: number;
}

export type WebhookResult = { ok: true; status: number } | { ok: false; status?: number; error: string };

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
export type PostResult = WebhookResult;

export interface OutboundClient {
  /** POSTs `body`; 2xx is success, anything else (a redirect too) a failure with its reason. */
  post(url: string, headers: Record<string, string | number>, body: string): Promise<PostResult>;
  close(): void;
}

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
    post(target, headers, body) {
      const url = new URL(target);
      const host = hostOf(url);
      if (isIP(host) && !policy.allows(host)) {
        return Promise.resolve({ ok: false, error: `destination ${host} is not allowed` });
      }
      const transport = url.protocol === 'https:' ? https : http;
      const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
      return new Promise<PostResult>((resolve) => {
        const req = transport.request(
          url,
          {
            method: 'POST',
            agent,
            lookup,
            signal: AbortSignal.timeout(timeoutMs),
            headers: { 'content-length': Buffer.byteLength(body), ...headers },
          },
          (response: IncomingMessage) => {
            const status = response.statusCode ?? 0;
            response.resume();
            response.on('end', () =>
              resolve(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` }),
            );
            response.on('error', (error) => resolve({ ok: false, status, error: error.message }));
            response.on('close', () => resolve({ ok: false, status, error: 'the connection closed before the answer ended' }));
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => {
          const message = error.name === 'AbortError' || error.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : error.message;
          resolve({ ok: false, error: message });
        });
        req.end(body);
      });
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

export interface WebhookClient {
  send(request: WebhookRequest): Promise<WebhookResult>;
  close(): void;
}

/** POSTs signed webhook deliveries through an outbound client. */
export function createWebhookClient(policy: DestinationPolicy, timeoutMs: number): WebhookClient {
  const client = createOutboundClient(policy, timeoutMs);
  return {
    send: (request) =>
      client.post(
        request.url,
        {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Webhook/1',
          'gatehouse-event': request.event,
          'gatehouse-event-id': request.eventId,
          'gatehouse-delivery': request.deliveryId,
          [SIGNATURE_HEADER]: signatureHeader(request.secret, request.timestamp, request.body),
        },
        request.body,
      ),
    close: () => client.close(),
  };
}
