/**
 * The event record every sink receives: the audit event as GET /api/v1/audit-events lists
 * it (id, created_at, tenant_id, action, outcome, actor, target, ip, user agent, details),
 * stored in the outbox row by audit/record.ts.
 */
export type EventRecord = Record<string, unknown> & { id: string; action: string; created_at: string };

/** The webhook body: the record itself. */
export const webhookBody = (record: EventRecord): string => JSON.stringify(record);

/**
 * The RabbitMQ message body, as OIH's event-bus library writes it (`Event.toJSON()`):
 * `{ headers: { name, serviceName, createdAt }, payload }`. An OIH consumer reads
 * `headers.name` and `payload`; the payload is the record.
 */
export function amqpBody(record: EventRecord): Buffer {
  const headers = { name: record.action, serviceName: 'gatehouse', createdAt: Date.parse(record.created_at), eventId: record.id };
  return Buffer.from(JSON.stringify({ headers, payload: record }));
}
