import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { bearerToken, looksLikeJwt } from '../../platform/http/guards.js';
import { type Access, resolveScope, type Scope } from './effective.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireAccess`. */
    scope?: Scope;
  }
}

/**
 * The admin API guard: an access token for a tenant, whose holder's fresh effective
 * permissions grant `access`. The scope it sets is all a handler may act in. The token is
 * resolved by the context's authenticator (src/platform/ports/authenticator.ts); the
 * permissions are checked here, in the one place that checks them (effective.ts resolveScope).
 */
export function requireAccess(ctx: AppContext, access: Access) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const token = bearerToken(request);
    if (!token) throw new AppError('unauthorized', 'An access token is required: POST /api/v1/token');
    if (!looksLikeJwt(token)) {
      throw new AppError('invalid_token', 'This route takes an access token for an organization (POST /api/v1/token), not a session token');
    }
    const caller = await ctx.authenticator.caller(token);
    const scope = resolveScope(caller.held, caller.tenant.id, caller.tenant.is_system, access, caller.user?.id);
    if (!scope) throw new AppError('forbidden', 'You do not have permission to do this', { required: access.tenant ?? access.system });
    request.caller = caller;
    request.scope = scope;
  };
}

/** The scope a guarded handler acts in. */
export function scopeOf(request: FastifyRequest): Scope {
  if (!request.scope) throw new Error('Route has no access guard');
  return request.scope;
}
