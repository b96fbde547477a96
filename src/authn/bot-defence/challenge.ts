import type { Challenge } from 'altcha-lib';
import { systemTenantId } from '../../directory/permissions/effective.js';
import { botDefenceSecret, type Policies, tenantPolicies } from '../../directory/policies/policies.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { ALTCHA_TTL_SECONDS, altchaChallenge, spend, verifyAltcha } from './altcha.js';
import { MAX_TOKEN, type ThirdParty, verifyWithProvider } from './providers.js';
import { countSignup, type RiskReason, riskOf } from './risk.js';

/**
 * Bot defence (issue 16.5; docs/security.md#bot-defence): the one check every guarded
 * entry point calls, the hosted pages and their API twins alike, before the step does
 * anything (decision 370).
 */

/** The steps a tenant's `bot_defence.actions` may guard. */
export type BotAction = Policies['bot_defence']['actions'][number];

/** The form field, and the JSON property, a solution is sent in. */
export const SOLUTION_FIELD = 'captcha';

/** What the client is asked to solve: the 428's `details.challenge`, and what a hosted page draws. */
export type ChallengeOffer =
  | { provider: 'altcha'; field: typeof SOLUTION_FIELD; challenge: Challenge; expires_in: number }
  | { provider: ThirdParty; field: typeof SOLUTION_FIELD; site_key: string };

export interface ChallengeInput {
  /** The tenant whose policy applies (the application's; null: the system tenant's, e.g. the OIH POST /session). */
  tenantId: string | null;
  action: BotAction;
  /** What the client sent in the `captcha` field (ALTCHA's payload, or a provider's token); absent when nothing. */
  solution?: string | null | undefined;
}

/** Who is asking: anything with the client's address (a Fastify request will do). */
export interface ChallengeClient {
  ip?: string | null;
}

interface Decision {
  tenantId: string;
  bot: Policies['bot_defence'];
  /** Why a challenge is asked: `always`, or the on_risk signal. */
  reason: 'always' | RiskReason;
}

/** Whether this step must be solved now; undefined when it need not (mode off, step not guarded, on_risk without a signal). */
async function decide(
  ctx: AppContext,
  ip: string | null,
  input: ChallengeInput,
): Promise<{ bot: Policies['bot_defence']; tenantId: string; decision?: Decision }> {
  const tenantId = input.tenantId ?? (await systemTenantId(ctx.db));
  const { bot_defence: bot } = await tenantPolicies(ctx, tenantId);
  if (bot.mode === 'off' || !bot.actions.includes(input.action)) return { bot, tenantId };
  if (bot.mode === 'always') return { bot, tenantId, decision: { tenantId, bot, reason: 'always' } };
  const risk = await riskOf(ctx, bot, { tenantId, action: input.action, ip });
  return { bot, tenantId, ...(risk && { decision: { tenantId, bot, reason: risk } }) };
}

/** A fresh challenge of the tenant's provider for this step. */
async function offer(ctx: AppContext, bot: Policies['bot_defence'], tenantId: string, action: BotAction): Promise<ChallengeOffer> {
  if (bot.provider === 'altcha') {
    const challenge = await altchaChallenge(ctx, { tenantId, action }, bot.altcha_cost);
    return { provider: 'altcha', field: SOLUTION_FIELD, challenge, expires_in: ALTCHA_TTL_SECONDS };
  }
  return { provider: bot.provider, field: SOLUTION_FIELD, site_key: bot.site_key };
}

/**
 * What a hosted page draws before the step is submitted: the challenge to show, or
 * undefined when the step needs none right now. (The submission is checked again by
 * requireChallenge: a signal that appears meanwhile asks then.)
 */
export async function challengeForPage(
  ctx: AppContext,
  client: ChallengeClient,
  input: Omit<ChallengeInput, 'solution'>,
): Promise<ChallengeOffer | undefined> {
  const { decision } = await decide(ctx, client.ip ?? null, input);
  return decision && offer(ctx, decision.bot, decision.tenantId, input.action);
}

/**
 * THE check (decision 370): call it first in every guarded entry point, the hosted page
 * and its API twin alike, with the client, the tenant whose policy applies, the step and
 * whatever came in the `captcha` field. Returns when the step may go on: bot defence is
 * off for it, no risk signal holds (`on_risk`), or the solution is good (and is now spent).
 * Otherwise throws:
 * - `428 challenge_required` when no solution came: `details.challenge` is what to solve
 *   (ALTCHA's challenge, or a provider and its site key) and `details.field` where to send it;
 * - `428 challenge_failed` when the solution is wrong, expired, for another tenant or step,
 *   or spent already: `details.reason` says which, with a fresh `details.challenge`;
 * - `503 service_unavailable` when a third-party provider cannot be asked (never a pass).
 * A sign-up that passes counts toward its network's burst signal.
 */
export async function requireChallenge(ctx: AppContext, client: ChallengeClient, input: ChallengeInput): Promise<void> {
  const ip = client.ip ?? null;
  const { bot, tenantId, decision } = await decide(ctx, ip, input);
  if (decision) await check(ctx, ip, decision, input);
  if (input.action === 'signup') await countSignup(ctx, bot, tenantId, ip);
}

async function check(ctx: AppContext, ip: string | null, decision: Decision, input: ChallengeInput): Promise<void> {
  const { bot, tenantId, reason } = decision;
  const solution = typeof input.solution === 'string' ? input.solution.trim() : '';
  if (solution === '') {
    throw new AppError('challenge_required', 'Solve the challenge in details.challenge and send its solution in the captcha field', {
      challenge: await offer(ctx, bot, tenantId, input.action),
      field: SOLUTION_FIELD,
      reason,
    });
  }
  const outcome = await verify(ctx, bot, tenantId, input.action, solution, ip);
  if (outcome === 'verified') return;
  await recordAudit(ctx.db, ctx, {
    action: 'iam.botDefence.challengeFailed',
    actor: { type: 'anonymous', id: null, ip, userAgent: null },
    tenantId,
    target: { type: 'tenant', id: tenantId },
    details: { step: input.action, provider: bot.provider, outcome },
  });
  throw new AppError('challenge_failed', 'The challenge was not solved; solve the new one in details.challenge', {
    challenge: await offer(ctx, bot, tenantId, input.action),
    field: SOLUTION_FIELD,
    reason: outcome,
  });
}

async function verify(
  ctx: AppContext,
  bot: Policies['bot_defence'],
  tenantId: string,
  action: BotAction,
  solution: string,
  ip: string | null,
): Promise<string> {
  if (bot.provider === 'altcha') return verifyAltcha(ctx, { tenantId, action }, solution);
  if (solution.length > MAX_TOKEN) return 'malformed';
  const secret = await botDefenceSecret(ctx, tenantId);
  if (!secret) return 'not_configured';
  const result = await verifyWithProvider(ctx, bot, bot.provider, { secret, token: solution, ip });
  if (!result.ok) return `provider:${result.errors.join(',')}`.slice(0, 200);
  // The providers refuse a token twice themselves; a spent token is refused here too, on every node.
  return (await spend(ctx, `${bot.provider}:${tenantId}:${solution}`, new Date(ctx.clock.now().getTime() + 600_000)))
    ? 'verified'
    : 'replayed';
}
