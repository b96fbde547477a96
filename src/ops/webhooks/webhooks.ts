import { holds, inScope, listedTenant, owningTenant, type Scope } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { randomToken, seal, unseal } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Webhook } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { checkWebhookUrl, destinationPolicy } from '../../platform/http/destinations.js';
import { checkEventPatterns } from './filters.js';

export interface WebhookInput {
  url: string;
  events: string[];
  description?: string;
  active?: boolean;
  /** System scope only: the tenant whose events it receives; absent = every tenant's (system-wide). */
  tenant?: string;
}

export type WebhookPatch = Partial<Omit<WebhookInput, 'tenant'>>;

/** A webhook with its signing secret, in the answers that show it (create, rotate). */
export interface WithSecret {
  webhook: Webhook;
  secret: string;
}

const newSecret = () => randomToken('ghwh');
/** The sealed secret is bound to its webhook: it cannot be moved to another row. */
const sealSecret = (ctx: AppContext, id: string, secret: string) => seal(ctx.masterKey, secret, `webhook-secret:${id}`);
export const webhookSecret = (ctx: AppContext, webhook: Pick<Webhook, 'id' | 'secret_sealed'>) =>
  unseal(ctx.masterKey, webhook.secret_sealed, `webhook-secret:${webhook.id}`);

/** A URL as the audit trail shows it: without its query, which may carry a receiver's token. */
const auditedUrl = (url: string) => {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
};

const checkUrl = (ctx: AppContext, url: string) => checkWebhookUrl(destinationPolicy(ctx.config.webhookAllowedNetworks), url);

/** In creation order. A tenant administrator sees the own tenant's; a system administrator every one (or `?tenant=`). */
export async function listWebhooks(
  ctx: AppContext,
  scope: Scope,
  filter: { tenant?: string | undefined },
  page: PageRequest,
): Promise<Page<Webhook>> {
  const tenantId = listedTenant(scope, filter.tenant);
  return paginate(
    page,
    DEFAULT_LIMIT,
    (w) => w.id,
    async (fetch, after) =>
      ctx.db
        .selectFrom('webhooks')
        .selectAll()
        .$if(tenantId !== undefined, (q) => q.where('tenant_id', '=', tenantId as string))
        .$if(after !== undefined, (q) => q.where('id', '>', after as string))
        .orderBy('id')
        .limit(fetch)
        .execute(),
  );
}

/** The webhook, if the scope reaches it: another tenant's, or a system-wide one for a tenant administrator, is 404. */
export async function getWebhook(ctx: AppContext, scope: Scope, id: string): Promise<Webhook> {
  const webhook = await ctx.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  if (!webhook || !inScope(scope, webhook.tenant_id)) throw notFound('Webhook');
  return webhook;
}

/** Reading the audit trail: what a webhook receives, every event of its tenant (or of all, system-wide). */
const AUDIT_READ = { system: 'iam.audit.read', tenant: 'tenant.audit.read' } as const;

/**
 * A webhook is a copy of the audit trail sent elsewhere: whoever chooses where it goes and
 * what it carries (creates one, or changes its URL, its events or whether it is active)
 * must also be allowed to read the trail (decision 196).
 */
function assertMayReceiveEvents(scope: Scope): void {
  if (!holds(scope, AUDIT_READ)) {
    throw new AppError('forbidden', 'A webhook receives the audit trail: reading it is needed too', {
      required: scope.kind === 'system' ? AUDIT_READ.system : AUDIT_READ.tenant,
    });
  }
}

export async function createWebhook(ctx: AppContext, scope: Scope, actor: Actor, input: WebhookInput): Promise<WithSecret> {
  assertMayReceiveEvents(scope);
  const tenantId = owningTenant(scope, input.tenant);
  const events = checkEventPatterns(input.events);
  const url = await checkUrl(ctx, input.url);
  const secret = newSecret();
  const id = ctx.ids.next();
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    if (tenantId && !(await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
    const webhook = await trx
      .insertInto('webhooks')
      .values({
        id,
        tenant_id: tenantId,
        url,
        events,
        description: input.description ?? '',
        active: input.active ?? true,
        secret_sealed: sealSecret(ctx, id, secret),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.webhook.created',
      actor,
      tenantId,
      target: { type: 'webhook', id },
      details: { url: auditedUrl(webhook.url), events, active: webhook.active },
    });
    return { webhook, secret };
  });
}

export async function updateWebhook(ctx: AppContext, scope: Scope, actor: Actor, id: string, patch: WebhookPatch): Promise<Webhook> {
  if (patch.url !== undefined || patch.events !== undefined || patch.active !== undefined) assertMayReceiveEvents(scope);
  const events = patch.events && checkEventPatterns(patch.events);
  const url = patch.url === undefined ? undefined : await checkUrl(ctx, patch.url);
  return ctx.db.transaction().execute(async (trx) => {
    const current = await lockWebhook(trx, scope, id);
    const updated = await trx
      .updateTable('webhooks')
      .set({
        ...(url !== undefined && { url }),
        ...(events && { events }),
        ...(patch.description !== undefined && { description: patch.description }),
        ...(patch.active !== undefined && { active: patch.active }),
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.webhook.modified',
      actor,
      tenantId: current.tenant_id,
      target: { type: 'webhook', id },
      details: { fields: Object.keys(patch), ...(url !== undefined && { url: auditedUrl(url) }), ...(events && { events }) },
    });
    return updated;
  });
}

/** Deletes the webhook and its delivery records; what was not delivered yet is not delivered. */
export async function deleteWebhook(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const webhook = await lockWebhook(trx, scope, id);
    await trx.deleteFrom('webhooks').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.webhook.deleted',
      actor,
      tenantId: webhook.tenant_id,
      target: { type: 'webhook', id },
      details: { url: auditedUrl(webhook.url) },
    });
  });
}

/** A new signing secret; deliveries from now on are signed with it (the old one stops at once). */
export async function rotateWebhookSecret(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<WithSecret> {
  const secret = newSecret();
  return ctx.db.transaction().execute(async (trx) => {
    const current = await lockWebhook(trx, scope, id);
    const webhook = await trx
      .updateTable('webhooks')
      .set({ secret_sealed: sealSecret(ctx, id, secret), updated_at: ctx.clock.now() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.webhook.secretRotated',
      actor,
      tenantId: current.tenant_id,
      target: { type: 'webhook', id },
    });
    return { webhook, secret };
  });
}

/** Reads the webhook for a change, locked until the transaction ends. */
export async function lockWebhook(trx: Db, scope: Scope, id: string): Promise<Webhook> {
  const webhook = await trx.selectFrom('webhooks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!webhook || !inScope(scope, webhook.tenant_id)) throw notFound('Webhook');
  return webhook;
}
