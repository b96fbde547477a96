import type { AppContext } from '../../platform/context.js';
import { destinationPolicy } from '../../platform/http/destinations.js';
import { keepLeased } from '../../platform/queue/lease.js';
import { settle } from '../../platform/queue/queue.js';
import type { RetryPolicy } from '../../platform/queue/retry.js';
import { createWorker } from '../../platform/queue/worker.js';
import { createWebhookClient } from '../webhooks/send.js';
import { deliverWebhooks } from '../webhooks/sink.js';
import { type AmqpSink, createAmqpSink } from './amqp.js';
import { type Claimed, claimDeliveries, deliveryQueue, type Outcome } from './claim.js';
import { fanOut, prune } from './fanout.js';
import { amqpBody } from './message.js';

/** RabbitMQ: retried every few seconds up to a minute apart, forever (a broker outage loses nothing). */
export const AMQP_RETRY: RetryPolicy = { baseMs: 1000, capMs: 60_000 };
/**
 * Webhooks: 10 s, doubling up to one hour apart; 82 attempts span a little over 72 hours,
 * then the delivery is `failed` (redeliver it by hand) and the next of its lane goes.
 */
export const WEBHOOK_RETRY: RetryPolicy = { baseMs: 10_000, capMs: 3_600_000, maxAttempts: 82 };

/**
 * Leases are short and renewed while a round runs (decision 311): a node that dies hands
 * its rows over within one lease. A webhook round stops taking new rows after
 * WEBHOOK_ROUND_MS and hands back what it did not reach.
 */
export const DELIVERY_LEASE_MS = 5000;
const AMQP_LIMITS = { lanes: 200, perLane: 500, leaseMs: DELIVERY_LEASE_MS };
const WEBHOOK_LIMITS = { lanes: 32, perLane: 50, leaseMs: DELIVERY_LEASE_MS };
const WEBHOOK_ROUND_MS = 60_000;
/** Finished deliveries and delivered outbox rows are kept this long (the audit trail keeps events). */
export const RETENTION_MS = 7 * 24 * 3_600_000;
const PRUNE_EVERY_MS = 10 * 60_000;

export interface DeliveryOptions {
  /** RabbitMQ URL; default: GATEHOUSE_AMQP_URL. None: no RabbitMQ deliveries are made. */
  amqpUrl?: string | undefined;
  /** Webhook networks allowed although internal; default: GATEHOUSE_WEBHOOK_ALLOWED_NETWORKS. */
  webhookAllowedNetworks?: readonly string[];
  /** Time limit of one webhook request. */
  webhookTimeoutMs?: number;
  /** Pause of the background loop when it found nothing to do. */
  idleMs?: number;
  /** RabbitMQ rows taken per round: lanes (tenants) and rows per lane. */
  amqpBatch?: { lanes: number; perLane: number };
}

export interface DeliveryReport {
  /** Events taken from the outbox. */
  events: number;
  delivered: number;
  failed: number;
}

export interface Delivery {
  /** One full pass: fan out the outbox, then deliver everything due now, to every sink. */
  deliverPending(): Promise<DeliveryReport>;
  /** Runs passes in the background until `stop`. */
  start(): void;
  /** Stops the loop (after the pass that runs) and closes connections. */
  stop(): Promise<void>;
}

const count = (outcomes: Outcome[], result: Outcome['result']) => outcomes.filter((o) => o.result === result).length;

/** The delivery worker of one node. Every node runs one; lanes, row locks and leases keep them apart. */
export function createDelivery(ctx: AppContext, options: DeliveryOptions = {}): Delivery {
  const amqpUrl = 'amqpUrl' in options ? options.amqpUrl : ctx.config.amqpUrl;
  const amqp: AmqpSink | undefined = amqpUrl ? createAmqpSink(amqpUrl, ctx.log) : undefined;
  const policy = destinationPolicy(options.webhookAllowedNetworks ?? ctx.config.webhookAllowedNetworks);
  const webhooks = createWebhookClient(policy, options.webhookTimeoutMs ?? 10_000);
  const amqpQueue = deliveryQueue('amqp', { ...AMQP_LIMITS, ...options.amqpBatch }, AMQP_RETRY);
  const webhookQueue = deliveryQueue('webhook', WEBHOOK_LIMITS, WEBHOOK_RETRY);
  let lastPrune = 0;

  async function amqpRound(): Promise<Outcome[]> {
    if (!amqp) return [];
    const rows = await claimDeliveries(ctx, amqpQueue);
    if (rows.length === 0) return [];
    const heartbeat = keepLeased(ctx.db, amqpQueue, ctx.clock, rows, ctx.log);
    try {
      return await publishRound(amqp, rows);
    } finally {
      await heartbeat.stop();
    }
  }

  async function publishRound(sink: AmqpSink, rows: Claimed[]): Promise<Outcome[]> {
    const sendable = rows.filter((r) => r.record);
    const results = await sink.publish(
      sendable.map((r) => ({ id: r.event_id, routingKey: r.event, body: amqpBody(r.record!), timestamp: new Date(r.record!.created_at) })),
    );
    const errors = new Map(sendable.map((r, i) => [r.id, results[i]]));
    const failedLanes = new Set<string>();
    const outcomes: Outcome[] = rows.map((row) => {
      if (!row.record) return { row, result: 'failed', final: true, error: 'the event is no longer stored' };
      const error = errors.get(row.id);
      if (!error) return { row, result: 'done' };
      // The first failure of a lane is retried with backoff; the rest of the lane waits behind it.
      if (failedLanes.has(row.lane)) return { row, result: 'released' };
      failedLanes.add(row.lane);
      return { row, result: 'failed', error: error.message };
    });
    await settle(ctx.db, amqpQueue, ctx.clock.now(), outcomes);
    return outcomes;
  }

  async function webhookRound(): Promise<Outcome[]> {
    const rows = await claimDeliveries(ctx, webhookQueue);
    if (rows.length === 0) return [];
    const heartbeat = keepLeased(ctx.db, webhookQueue, ctx.clock, rows, ctx.log);
    try {
      const outcomes = await deliverWebhooks(ctx, webhooks, rows, WEBHOOK_ROUND_MS);
      await settle(ctx.db, webhookQueue, ctx.clock.now(), outcomes);
      return outcomes;
    } finally {
      await heartbeat.stop();
    }
  }

  async function pass(): Promise<DeliveryReport> {
    const report: DeliveryReport = { events: 0, delivered: 0, failed: 0 };
    for (;;) {
      const taken = await fanOut(ctx, { amqp: amqp !== undefined });
      report.events += taken;
      if (taken === 0) break;
    }
    for (const round of [amqpRound, webhookRound]) {
      for (let i = 0; i < 1000; i++) {
        const outcomes = await round();
        report.delivered += count(outcomes, 'done');
        report.failed += count(outcomes, 'failed');
        if (outcomes.length === 0) break;
      }
    }
    if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      await prune(ctx, RETENTION_MS);
    }
    return report;
  }

  const worker = createWorker(ctx.log, 'Event delivery', pass, {
    idleMs: options.idleMs ?? 1000,
    busy: (report) => report.events + report.delivered + report.failed > 0,
    async onStop() {
      webhooks.close();
      await amqp?.close();
    },
  });
  return { deliverPending: worker.runOnce, start: worker.start, stop: worker.stop };
}
