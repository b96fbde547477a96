import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Impersonation } from '../../platform/db/schema.js';

/** Who impersonates, as the user and the audit trail see them. */
export interface Impersonator {
  id: string;
  email: string;
  name: string | null;
}

export interface ImpersonationRequest {
  tenantId: string;
  userId: string;
  impersonator: Impersonator;
  clientId: string;
  /** The deployment's time box (config.impersonationTtlSeconds, at most 15 minutes). */
  ttlSeconds: number;
  actor: Actor;
}

/**
 * The impersonation a token is issued under (decision 433): the one this administrator
 * started for this user through this application, while it lasts; else a new one, whose
 * start is audited (`iam.user.impersonationStarted`) in the same transaction. Every token
 * under it expires by its end, so asking again does not stretch the time box: after it,
 * a new impersonation starts, and is audited and shown to the user again.
 */
export async function openImpersonation(ctx: AppContext, request: ImpersonationRequest): Promise<{ id: string; expiresAt: Date }> {
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const live = await trx
      .updateTable('impersonations')
      .set((eb) => ({ tokens: eb('tokens', '+', 1) }))
      .where('id', '=', (eb) =>
        eb
          .selectFrom('impersonations')
          .select('id')
          .where('actor_user_id', '=', request.impersonator.id)
          .where('user_id', '=', request.userId)
          .where('client_id', '=', request.clientId)
          .where('tenant_id', '=', request.tenantId)
          .where('expires_at', '>', now)
          .orderBy('expires_at', 'desc')
          .limit(1),
      )
      .returning(['id', 'expires_at'])
      .executeTakeFirst();
    if (live) return { id: live.id, expiresAt: live.expires_at };
    const expiresAt = new Date(now.getTime() + request.ttlSeconds * 1000);
    const id = ctx.ids.next();
    await trx
      .insertInto('impersonations')
      .values({
        id,
        tenant_id: request.tenantId,
        user_id: request.userId,
        actor_user_id: request.impersonator.id,
        actor_email: request.impersonator.email,
        actor_name: request.impersonator.name,
        client_id: request.clientId,
        started_at: now,
        expires_at: expiresAt,
        tokens: 1,
      })
      .execute();
    await recordAudit(trx, ctx, {
      action: 'iam.user.impersonationStarted',
      actor: request.actor,
      tenantId: request.tenantId,
      target: { type: 'user', id: request.userId },
      details: { impersonation_id: id, client_id: request.clientId, expires_at: expiresAt.toISOString() },
    });
    return { id, expiresAt };
  });
}

/** What the user sees of one impersonation of their account (the account page's "Support access"). */
export interface ImpersonationSummary {
  id: string;
  by: string;
  by_email: string;
  application: string;
  tenant: string;
  started_at: Date;
  expires_at: Date;
  active: boolean;
}

/** The impersonations of a user's account, newest first (the last 100). */
export async function listImpersonations(ctx: AppContext, userId: string): Promise<ImpersonationSummary[]> {
  const rows: (Impersonation & { application: string | null; tenant: string })[] = await ctx.db
    .selectFrom('impersonations as i')
    .innerJoin('tenants as t', 't.id', 'i.tenant_id')
    .leftJoin('applications as a', 'a.client_id', 'i.client_id')
    .selectAll('i')
    .select(['a.name as application', 't.name as tenant'])
    .where('i.user_id', '=', userId)
    .orderBy('i.started_at', 'desc')
    .orderBy('i.id', 'desc')
    .limit(100)
    .execute();
  const now = ctx.clock.now();
  return rows.map((row) => ({
    id: row.id,
    by: row.actor_name ?? row.actor_email,
    by_email: row.actor_email,
    application: row.application ?? row.client_id,
    tenant: row.tenant,
    started_at: row.started_at,
    expires_at: row.expires_at,
    active: row.expires_at > now,
  }));
}
