import type { Scope } from '../../directory/permissions/effective.js';
import { getApplication } from '../../oauth/applications/applications.js';
import { revokeApplicationGrants } from '../../oauth/engine/revocation.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';

/**
 * Revokes every OAuth grant of an application (an incident: a leaked client secret or a
 * compromised application): every refresh token fails and every user token it holds is
 * inactive at introspection and on the admin API at once. One transaction, one event.
 */
export async function revokeApplicationTokens(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<{ grants: number }> {
  const app = await getApplication(ctx, scope, id);
  return ctx.db.transaction().execute(async (trx) => {
    const grants = await revokeApplicationGrants(trx, app.client_id);
    await recordAudit(trx, ctx, {
      action: 'iam.application.tokensRevoked',
      actor,
      tenantId: app.tenant_id,
      target: { type: 'application', id: app.id },
      details: { client_id: app.client_id, grants_revoked: grants },
    });
    return { grants };
  });
}
