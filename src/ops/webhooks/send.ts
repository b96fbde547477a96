import type { DestinationPolicy } from '../../platform/http/destinations.js';
import { createOutboundClient, type PostResult } from '../../platform/http/outbound.js';
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

export interface WebhookClient {
  send(request: WebhookRequest): Promise<PostResult>;
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
