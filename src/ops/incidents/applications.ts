import { sql } from 'kysely';
import { revokeGrants } from '../../authn/sessions/revoke-access.js';
import type { Scope } from '../../directory/permissions/effective.js';
import { getApplication } from '../../oauth/applications/applications.js';
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
    const grants = await trx
      .selectFrom('oidc_models')
      .select('id')
      .where('model', '=', 'Grant')
      .where(sql<string>`payload->>'clientId'`, '=', app.client_id)
      .execute();
    await revokeGrants(
      trx,
      grants.map((g) => g.id),
    );
    // Opaque client-credentials tokens the engine stored (JWTs for an API are not stored:
    // they expire within their lifetime; rotating the secret stops new ones).
    await trx
      .deleteFrom('oidc_models')
      .where('model', '=', 'ClientCredentials')
      .where(sql<string>`payload->>'clientId'`, '=', app.client_id)
      .execute();
    await recordAudit(trx, ctx, {
      action: 'iam.application.tokensRevoked',
      actor,
      tenantId: app.tenant_id,
      target: { type: 'application', id: app.id },
      details: { client_id: app.client_id, grants_revoked: grants.length },
    });
    return { grants: grants.length };
  });
}
