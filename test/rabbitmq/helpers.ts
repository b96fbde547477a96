import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { EXCHANGE } from '../../src/ops/events/amqp.js';

/** The RabbitMQ the RabbitMQ tests run against (CI: amqp://guest:guest@127.0.0.1:5672). Never skipped. */
export const AMQP_URL: string = (() => {
  const url = process.env.GATEHOUSE_TEST_AMQP_URL;
  if (!url)
    throw new Error('GATEHOUSE_TEST_AMQP_URL is not set: the RabbitMQ tests need a broker (e.g. amqp://guest:guest@127.0.0.1:5672)');
  return url;
})();

export interface Message {
  routingKey: string;
  properties: ConsumeMessage['properties'];
  body: { headers: { name: string; serviceName: string; createdAt: number }; payload: Record<string, any> };
}

/**
 * An OIH-style consumer: its own queue bound to the `event-bus` topic exchange with the
 * given routing-key patterns. Other test runs may publish to the same broker, so callers
 * filter what they expect (by tenant or target).
 */
export interface Consumer {
  messages: Message[];
  /** Resolves when `predicate` holds for the messages received so far. */
  until(predicate: (messages: Message[]) => boolean): Promise<void>;
  close(): Promise<void>;
}

export async function consume(patterns: string[]): Promise<Consumer> {
  const connection: ChannelModel = await amqp.connect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  for (const pattern of patterns) await channel.bindQueue(queue, EXCHANGE, pattern);
  const messages: Message[] = [];
  let waiters: Array<() => void> = [];
  await channel.consume(
    queue,
    (msg) => {
      if (!msg) return;
      messages.push({ routingKey: msg.fields.routingKey, properties: msg.properties, body: JSON.parse(msg.content.toString('utf8')) });
      channel.ack(msg);
      for (const wake of waiters) wake();
    },
    { noAck: false },
  );
  return {
    messages,
    async until(predicate) {
      while (!predicate(messages)) {
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
        });
        waiters = [];
      }
    },
    async close() {
      await connection.close();
    },
  };
}

/** A TCP port nothing listens on (a broker that is down). */
export async function unusedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}
