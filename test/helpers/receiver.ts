import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: headers and the raw body, as a signature check needs it. */
export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

/**
 * A real HTTP webhook receiver on 127.0.0.1. `answer` decides the response (default 204);
 * `stop` closes it and `start` opens it again on the same port (a receiver that was down).
 */
export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  answer: (request: Received, response: ServerResponse) => void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startReceiver(port = 0): Promise<Receiver> {
  let server: Server | undefined;
  const receiver: Receiver = {
    url: '',
    port,
    received: [],
    answer: (_request, response) => {
      response.statusCode = 204;
      response.end();
    },
    async start() {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const request = { headers: req.headers, body, json: body ? JSON.parse(body) : undefined };
          receiver.received.push(request);
          receiver.answer(request, res);
        });
      });
      server.listen(receiver.port, '127.0.0.1');
      await once(server, 'listening');
      receiver.port = (server.address() as AddressInfo).port;
      receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
    },
    async stop() {
      if (!server) return;
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
      server = undefined;
    },
  };
  await receiver.start();
  return receiver;
}

/** A clock the test moves by hand. */
export function manualClock(start = new Date()) {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    set: (date: Date) => {
      now = date.getTime();
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
}
