import { endOAuthGrants } from '../../oauth/access/end-access.js';
import { liveGrantsOfUser } from '../../oauth/engine/stored.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { notFound } from '../../platform/errors.js';

/** An application a user has let sign them in (an OAuth grant the engine stored), with what it may ask for. */
export interface ConsentedApplication {
  client_id: string;
  name: string;
  /** OpenID scopes granted (openid, email, profile, offline_access…). */
  scopes: string[];
  /** API scopes granted, by API identifier (audience). */
  apis: { audience: string; scopes: string[] }[];
  granted_at: Date;
}

const words = (scope: string) => scope.split(' ').filter(Boolean);

/**
 * The applications a user has consented to: their live grants, one entry per application
 * (grants of one application are merged), in name order.
 */
export async function listConsentedApplications(ctx: AppContext, userId: string): Promise<ConsentedApplication[]> {
  const grants = await liveGrantsOfUser(ctx.db, userId, ctx.clock.now());
  const byClient = new Map<string, ConsentedApplication>();
  for (const grant of grants) {
    const entry = byClient.get(grant.clientId) ?? {
      client_id: grant.clientId,
      name: grant.clientId,
      scopes: [],
      apis: [],
      granted_at: grant.grantedAt,
    };
    entry.scopes = [...new Set([...entry.scopes, ...words(grant.openidScope)])].sort();
    for (const [audience, scope] of Object.entries(grant.resources)) {
      const api = entry.apis.find((a) => a.audience === audience);
      if (api) api.scopes = [...new Set([...api.scopes, ...words(scope)])].sort();
      else entry.apis.push({ audience, scopes: words(scope).sort() });
    }
    if (grant.grantedAt < entry.granted_at) entry.granted_at = grant.grantedAt;
    byClient.set(grant.clientId, entry);
  }
  if (byClient.size === 0) return [];
  const apps = await ctx.db
    .selectFrom('applications')
    .select(['client_id', 'name'])
    .where('client_id', 'in', [...byClient.keys()])
    .execute();
  for (const app of apps) {
    const entry = byClient.get(app.client_id);
    if (entry) entry.name = app.name;
  }
  return [...byClient.values()].sort((a, b) => a.name.localeCompare(b.name) || a.client_id.localeCompare(b.client_id));
}

/**
 * A user withdraws an application's access: its grants go with every code, access and
 * refresh token they carry (a refresh fails at once), and the application gets a
 * back-channel logout when it has a logout URI. The next sign-in there asks for consent again.
 */
export async function revokeConsent(ctx: AppContext, actor: Actor, userId: string, clientId: string): Promise<void> {
  const user = await ctx.db.selectFrom('users').select('home_tenant_id').where('id', '=', userId).executeTakeFirstOrThrow();
  await ctx.db.transaction().execute(async (trx) => {
    const { grants, notices } = await endOAuthGrants(trx, ctx, userId, clientId);
    if (grants === 0) throw notFound('Application');
    const app = await trx.selectFrom('applications').select(['id', 'tenant_id']).where('client_id', '=', clientId).executeTakeFirst();
    await recordAudit(trx, ctx, {
      action: 'iam.oauth.consentRevoked',
      actor,
      tenantId: app?.tenant_id ?? user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { client_id: clientId, ...(app && { application_id: app.id }), grants_revoked: grants, backchannel_logouts: notices },
    });
  });
}
