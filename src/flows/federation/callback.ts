import { connectionById, servesClient } from '../../authn/federation/connections.js';
import { type Connection, FederationError, type UpstreamProfile } from '../../authn/federation/strategy.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { constantTimeEqual, unseal } from '../../platform/crypto/secrets.js';
import { AppError } from '../../platform/errors.js';
import { advanceFlow, openFlow } from '../kit/flows.js';
import { loginFailed } from './complete.js';
import { FEDERATION, type FederationFlow } from './flow.js';
import { callbackUrl, hashOfStateSecret, STATE_PATTERN, savedContext, storedProfile, strategyFor } from './start.js';

/**
 * The provider's answer at `/login/callback` (every redirect connection; SAML's ACS with
 * `?connection=NAME`). The `state` (or `RelayState`) names the flow and carries its secret:
 * an unknown, forged, expired or already used one is refused before any strategy runs. The
 * strategy checks the answer; the flow moves to `verified` with what it said, once (a
 * replayed answer finds the flow moved on). A cancellation moves it to `cancelled`.
 */
const invalidState = () => new AppError('federation_state_invalid', 'This sign-in is not valid; start again');

/** The flow and connection a callback's `state` names, its secret checked; `named`: the `?connection=` of a SAML ACS. */
export async function callbackFlow(
  ctx: AppContext,
  params: Record<string, string>,
  named: string | undefined,
): Promise<{ flow: FederationFlow; connection: Connection }> {
  const match = STATE_PATTERN.exec(params.state ?? params.RelayState ?? '');
  if (!match) throw invalidState();
  const [, id, secret] = match as unknown as [string, string, string];
  const found = await openFlow(ctx.db, ctx, FEDERATION, id).catch((error) => {
    if (error instanceof AppError && error.code === 'flow_not_found') throw invalidState();
    throw error;
  });
  const { flow, expired } = found;
  const expected = Buffer.from(flow.data.state_hash ?? '');
  if (expired || flow.state !== 'redirected' || !constantTimeEqual(Buffer.from(hashOfStateSecret(secret)), expected)) throw invalidState();
  const connection = await connectionById(ctx, flow.data.connection_id);
  if (!connection || (named !== undefined && named.toLowerCase() !== connection.name.toLowerCase())) throw invalidState();
  // The application may have stopped using the connection while the person was at the provider.
  if (flow.application_id !== null) {
    const app = await ctx.db
      .selectFrom('applications')
      .select(['client_id', 'tenant_id'])
      .where('id', '=', flow.application_id)
      .executeTakeFirst();
    if (!app || !servesClient(connection, { clientId: app.client_id, tenantId: app.tenant_id })) {
      throw new AppError('connection_unknown', 'This application does not offer that connection', { connection: connection.name });
    }
  }
  return { flow, connection };
}

/**
 * Runs the strategy's check of the answer. A FederationError is audited; a cancellation
 * moves the flow to `cancelled` (the application then gets access_denied). Anything else a
 * strategy throws is a provider's failure (logged), never a 500.
 */
export async function verifyAnswer(
  ctx: AppContext,
  found: { flow: FederationFlow; connection: Connection },
  params: Record<string, string>,
  actor: Actor,
): Promise<FederationFlow> {
  const { flow, connection } = found;
  const tenantId = connection.tenantId ?? flow.tenant_id;
  let profile: UpstreamProfile;
  try {
    const strategy = strategyFor(connection);
    if (strategy.kind !== 'redirect') throw new FederationError('misconfigured', `${connection.strategy} is not a redirect strategy`);
    const saved = flow.data.saved_sealed
      ? (JSON.parse(unseal(ctx.masterKey, flow.data.saved_sealed, savedContext(flow.id))) as Record<string, string>)
      : {};
    profile = await strategy.finish(ctx, connection, { redirectUri: callbackUrl(ctx, connection), params, saved });
    if (!profile.subject) throw new FederationError('invalid_response', 'The provider named no subject');
  } catch (error) {
    const failure = error instanceof FederationError ? error : new FederationError('provider_error', 'The strategy failed unexpectedly');
    if (!(error instanceof FederationError)) ctx.log.warn({ err: error, connection: connection.name }, 'Federation strategy failed');
    await loginFailed(ctx.db, ctx, { connection, tenantId, reason: `${failure.code}: ${failure.reason}`, flowId: flow.id }, actor);
    if (failure.code === 'cancelled') await advanceFlow(ctx.db, ctx, flow, { state: 'cancelled' }).catch(() => undefined);
    throw failure;
  }
  const { saved_sealed: _spent, ...data } = flow.data;
  return advanceFlow(ctx.db, ctx, flow, { state: 'verified', data: { ...data, profile: storedProfile(profile) } }).catch((error) => {
    // Two answers raced with one state: the other one won.
    if (error instanceof AppError && error.code === 'flow_state') throw invalidState();
    throw error;
  });
}
