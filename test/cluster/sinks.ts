import amqp from 'amqplib';
import { EXCHANGE } from '../../src/ops/events/amqp.js';
import { type Receiver, startReceiver } from '../helpers/receiver.js';

/**
 * The consumers of the cluster's events, each deduplicating by event id as the issue asks
 * of a consumer: an OIH-style queue on the shared RabbitMQ (reached directly, not through
 * the proxy the test cuts) and a webhook receiver. Both keep the arrival order and count
 * the copies of each event.
 */
export interface EventSink {
  /** Event ids in order of first arrival. */
  order: string[];
  /** Copies received per event id. */
  copies: Map<string, number>;
  /** Resolves once every id has arrived (fails after `timeoutMs`, naming how many are missing). */
  waitFor(ids: string[], timeoutMs: number): Promise<void>;
}

function sink(): EventSink & { add(id: string): void } {
  const order: string[] = [];
  const copies = new Map<string, number>();
  return {
    order,
    copies,
    add(id) {
      const seen = copies.get(id) ?? 0;
      if (seen === 0) order.push(id);
      copies.set(id, seen + 1);
    },
    async waitFor(ids, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const missing = ids.filter((id) => !copies.has(id));
        if (missing.length === 0) return;
        if (Date.now() > deadline) throw new Error(`${missing.length} of ${ids.length} events not delivered within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
  };
}

/** A queue bound to `iam.user.created` that keeps the events of `tenant` only (the broker is shared). */
export async function rabbitSink(url: string, tenant: () => string): Promise<EventSink & { close(): Promise<void> }> {
  const events = sink();
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.assertExchange(EXCHANGE, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  await channel.bindQueue(queue, EXCHANGE, 'iam.user.created');
  await channel.consume(queue, (message) => {
    if (!message) return;
    const body = JSON.parse(message.content.toString('utf8'));
    if (body.payload.tenant_id === tenant()) events.add(message.properties.messageId as string);
    channel.ack(message);
  });
  return { ...events, close: () => connection.close() };
}

/** A webhook receiver keeping the events of `tenant` (by the gatehouse-event-id header). */
export async function webhookSink(tenant: () => string): Promise<EventSink & { receiver: Receiver }> {
  const events = sink();
  const receiver = await startReceiver();
  receiver.answer = (request, response) => {
    if (request.body.includes(tenant())) {
      events.add(request.headers['gatehouse-event-id'] as string);
    }
    response.statusCode = 204;
    response.end();
  };
  return { ...events, receiver };
}
