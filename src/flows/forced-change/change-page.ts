import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Interaction } from '../../oauth/engine/index.js';
import type { AppContext } from '../../platform/context.js';
import { browserBinding, flowCsrf, pageLook, sendPage } from '../kit/flow-kit.js';
import { forcedChangePage } from '../recovery/pages.js';
import { startForcedChange } from './forced-change.js';

/**
 * The hosted sign-in's forced password change (a temporary password or an administrator's
 * "change at next sign-in"): after the right current password the sign-in shows a
 * new-password form; its POST sets the password, then the sign-in goes on (the MFA step
 * included). The form names a stored flow bound to this browser and this interaction.
 */
export async function showForcedChange(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, it: Interaction, username: string) {
  const flow = await startForcedChange(ctx, username, it.uid, browserBinding(ctx, request, reply));
  const look = await pageLook(ctx, request, { tenantId: it.client.tenantId });
  const page = forcedChangePage(look, {
    action: `/interaction/${it.uid}/password`,
    flow: flow.id,
    csrf: flowCsrf(ctx, flow.id),
    email: flow.email ?? '',
  });
  return sendPage(reply, page);
}
