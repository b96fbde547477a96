/**
 * The jobs registry: every background job of every layer, started in one place that nothing
 * imports but the wiring (src/main/gatehouse.ts). Each layer offers its work as a function
 * (a sweep, a batch, a worker); this file decides what runs on a node and how often.
 */
import { pruneBotDefence } from '../authn/bot-defence/counters.js';
import { pruneSamlAssertions } from '../authn/federation/prune.js';
import { pruneMfaTokens } from '../authn/mfa/mfa-tokens.js';
import { pruneProtection } from '../authn/protection/prune.js';
import { pruneFlows } from '../flows/kit/flows.js';
import { startBackchannelWorker } from '../oauth/backchannel/worker.js';
import { pruneExpired } from '../oauth/engine/adapter.js';
import { pruneDeniedTokens } from '../oauth/engine/denied-tokens.js';
import { auditJobs } from '../ops/audit/jobs.js';
import type { Delivery } from '../ops/events/worker.js';
import type { AppContext } from '../platform/context.js';
import { type Job, type Jobs, startJobs } from '../platform/jobs.js';
import { startEmailWorker } from '../platform/mail/mailer.js';

/** Expired rows (OAuth artifacts, MFA tokens, flows, brute-force counters, SAML assertion ids) are swept this often. */
const SWEEP_EVERY_MS = 10 * 60_000;

const sweep = (name: string, work: () => Promise<unknown>): Job => ({
  name,
  intervalMs: SWEEP_EVERY_MS,
  run: async () => {
    await work();
    return false;
  },
});

/**
 * Starts a node's background work: the email and back-channel logout workers and the sweeps
 * of expired rows always; with `background` (tests switch it off and run each pass
 * themselves, so nothing changes under them) event delivery and the audit trail's sealer
 * and retention too. `stop()` ends them all and waits for runs in progress.
 */
export function startBackground(ctx: AppContext, options: { background: boolean; delivery: Delivery }): Jobs {
  const jobs: Job[] = [
    sweep('prune-oauth', () => pruneExpired(ctx.db, ctx.clock.now())),
    sweep('prune-denied-tokens', () => pruneDeniedTokens(ctx.db, ctx.clock.now())),
    sweep('prune-mfa-tokens', () => pruneMfaTokens(ctx)),
    sweep('prune-flows', () => pruneFlows(ctx)),
    sweep('prune-protection', () => pruneProtection(ctx)),
    sweep('prune-saml-assertions', () => pruneSamlAssertions(ctx)),
    sweep('prune-bot-defence', () => pruneBotDefence(ctx.db, ctx.clock.now())),
    ...(options.background ? auditJobs(ctx) : []),
  ];
  const running = [startJobs(ctx.log, jobs), startEmailWorker(ctx), startBackchannelWorker(ctx)];
  if (options.background) options.delivery.start();
  return {
    async stop() {
      await Promise.all([...running.map((loop) => loop.stop()), options.delivery.stop()]);
    },
  };
}
