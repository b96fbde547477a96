import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SmsMessage {
  to: string;
  body: string;
}

export interface SmsReceiver {
  url: string;
  messages: SmsMessage[];
  /** The next message to `to` that arrives (or arrived and was not taken yet). */
  next(to: string, timeoutMs?: number): Promise<SmsMessage>;
  /** Answers every request with this status while set (a gateway that is down). */
  failWith: number | undefined;
  /** How many requests arrived, failed ones included. */
  requests: number;
  stop(): Promise<void>;
}

const readBody = (request: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });

/** A real HTTP server standing in for an SMS gateway's webhook: it keeps every `{to, body}` POSTed to it. */
export async function startSmsReceiver(): Promise<SmsReceiver> {
  const taken = new Set<SmsMessage>();
  const waiters: { to: string; resolve: (message: SmsMessage) => void }[] = [];
  const receiver: SmsReceiver = {
    url: '',
    messages: [],
    failWith: undefined,
    requests: 0,
    next(to, timeoutMs = 10_000) {
      const waiting = receiver.messages.find((m) => m.to === to && !taken.has(m));
      if (waiting) {
        taken.add(waiting);
        return Promise.resolve(waiting);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`No SMS to ${to} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          to,
          resolve: (message) => {
            clearTimeout(timer);
            taken.add(message);
            resolve(message);
          },
        });
      });
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((request, response) => {
    readBody(request)
      .then((text) => {
        receiver.requests++;
        if (receiver.failWith) {
          response.writeHead(receiver.failWith).end();
          return;
        }
        const message = JSON.parse(text) as SmsMessage;
        receiver.messages.push(message);
        const index = waiters.findIndex((w) => w.to === message.to);
        if (index >= 0) waiters.splice(index, 1)[0]!.resolve(message);
        response.writeHead(202, { 'content-type': 'application/json' }).end('{"queued":true}');
      })
      .catch(() => response.writeHead(400).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
  return receiver;
}

/** The six-digit code in a message. */
export const codeIn = (text: string): string => {
  const code = /\b(\d{6})\b/.exec(text)?.[1];
  if (!code) throw new Error(`No code in: ${text}`);
  return code;
};
