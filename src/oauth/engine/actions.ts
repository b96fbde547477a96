import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { runTrigger, type Trigger, type TriggerResult } from '../../platform/ports/actions.js';
import type { OidcContext } from './lookups.js';

/**
 * The actions of the token endpoint (issue 16, decision 345): post-login for every grant that
 * issues a user's tokens (code, refresh token, device code, and the password and MFA grants),
 * credentials-exchange for client credentials. They run once per request: the access token's
 * claims (extraTokenClaims) and the ID token's (IdToken payload) read the same run. A denial
 * is the engine's `access_denied` with the action's reason.
 */
const runs = new WeakMap<object, Promise<TriggerResult>>();

export interface TokenRequest {
  kind: 'user' | 'client';
  clientId: string;
  tenantId: string;
  accountId?: string | undefined;
  audience?: string | undefined;
}

export function tokenActions(ctx: OidcContext, koa: KoaContextWithOIDC, request: TokenRequest): Promise<TriggerResult> {
  let run = runs.get(koa);
  if (!run) {
    const trigger: Trigger = request.kind === 'client' ? 'credentials-exchange' : 'post-login';
    const grantType = (koa.oidc.params?.grant_type as string | undefined) ?? undefined;
    run = runTrigger(ctx, trigger, {
      tenantId: request.tenantId,
      ...(request.accountId && { userId: request.accountId }),
      clientId: request.clientId,
      request: {
        ip: koa.ip,
        user_agent: koa.get('user-agent') || undefined,
        language: koa.get('accept-language') || undefined,
      },
      transaction: {
        protocol:
          grantType === 'refresh_token'
            ? 'oauth2-refresh-token'
            : grantType === 'client_credentials'
              ? 'oauth2-client-credentials'
              : 'oidc-basic-profile',
        ...(grantType && { grant_type: grantType }),
        ...(request.audience && { requested_audience: request.audience }),
        ...(typeof koa.oidc.params?.scope === 'string' && { requested_scopes: (koa.oidc.params.scope as string).split(' ') }),
      },
    });
    runs.set(koa, run);
  }
  return run.then((result) => {
    if (result.denied) throw new errors.AccessDenied(result.denied.reason);
    return result;
  });
}

/** The ID token claims of the request's run, if one ran (the access token's claims started it). */
export async function idTokenActionClaims(koa: object): Promise<Record<string, unknown>> {
  const run = runs.get(koa);
  if (!run) return {};
  const result = await run;
  return result.denied ? {} : result.idTokenClaims;
}
