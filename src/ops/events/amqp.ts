import { once } from 'node:events';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';

/** OIH's event bus: one durable topic exchange, routing key = event name. */
export const EXCHANGE = 'event-bus';

export interface AmqpMessage {
  id: string;
  routingKey: string;
  body: Buffer;
  timestamp: Date;
}

export interface AmqpSink {
  /** Publishes in order on one confirm channel; per message, undefined when the broker confirmed it, else the error. */
  publish(messages: readonly AmqpMessage[]): Promise<Array<Error | undefined>>;
  close(): Promise<void>;
}

/** The broker URL without its password, for logs and delivery errors. */
export function redactedAmqpUrl(url: string): string {
  if (!URL.canParse(url)) return 'amqp://…';
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/**
 * A RabbitMQ publisher with publisher confirms and persistent messages. It connects on
 * first use and again after the connection drops; while the broker is down, publishing
 * fails and the delivery rows wait with backoff (nothing is lost).
 */
export function createAmqpSink(url: string, log: Logger): AmqpSink {
  let connecting: Promise<{ connection: ChannelModel; channel: ConfirmChannel }> | undefined;
  let closed = false;

  function reset() {
    connecting = undefined;
  }

  async function connect() {
    const connection = await amqp.connect(url, { timeout: 5000, clientProperties: { connection_name: 'gatehouse-events' } });
    try {
      connection.on('error', (error: Error) => log.warn({ err: error, broker: redactedAmqpUrl(url) }, 'RabbitMQ connection error'));
      connection.on('close', reset);
      const channel = await connection.createConfirmChannel();
      channel.on('error', (error: Error) => log.warn({ err: error }, 'RabbitMQ channel error'));
      channel.on('close', reset);
      await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
      return { connection, channel };
    } catch (error) {
      await connection.close().catch(() => {});
      throw error;
    }
  }

  async function channel(): Promise<ConfirmChannel> {
    if (closed) throw new Error('The RabbitMQ sink is closed');
    connecting ??= connect();
    try {
      return (await connecting).channel;
    } catch (error) {
      reset();
      throw error;
    }
  }

  return {
    async publish(messages) {
      let ch: ConfirmChannel;
      try {
        ch = await channel();
      } catch (error) {
        const failure = new Error(`RabbitMQ at ${redactedAmqpUrl(url)} is unreachable: ${(error as Error).message}`);
        return messages.map(() => failure);
      }
      const results: Promise<Error | undefined>[] = [];
      for (const message of messages) {
        let ready = true;
        results.push(
          new Promise((resolve) => {
            try {
              ready = ch.publish(
                EXCHANGE,
                message.routingKey,
                message.body,
                {
                  persistent: true,
                  contentType: 'application/json',
                  messageId: message.id,
                  type: message.routingKey,
                  appId: 'gatehouse',
                  timestamp: Math.floor(message.timestamp.getTime() / 1000),
                },
                (error) => resolve(error ? new Error(`RabbitMQ did not confirm: ${String(error?.message ?? error)}`) : undefined),
              );
            } catch (error) {
              resolve(error as Error);
            }
          }),
        );
        if (!ready) await Promise.race([once(ch, 'drain'), once(ch, 'close')]);
      }
      return Promise.all(results);
    },
    async close() {
      closed = true;
      const current = connecting;
      connecting = undefined;
      if (!current) return;
      const { connection } = await current.catch(() => ({ connection: undefined }));
      await connection?.close().catch(() => {});
    },
  };
}
