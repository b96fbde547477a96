import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, Nullable, Timestamp } from '../../platform/http/schemas.js';
import { clearLockout, getLockout, type LockoutView } from './lockout.js';

const Lockout = Type.Object(
  {
    user_id: Id,
    locked: Type.Boolean({ description: 'Refused now: a running lockout or the hard limit' }),
    hard_locked: Type.Boolean({ description: 'The hard limit was reached: refused until a password reset or an unlock' }),
    locked_until: Nullable(Timestamp),
    attempts: Type.Array(
      Type.Object({
        kind: Type.String({ description: 'password, mfa, recovery_code or code' }),
        failures: Type.Integer({ description: 'Consecutive failures' }),
        locked_until: Nullable(Timestamp),
        hard_locked: Type.Boolean(),
      }),
    ),
    addresses: Type.Array(
      Type.Object({
        kind: Type.String(),
        ip: Type.String(),
        failures: Type.Integer({ description: 'Consecutive failures from this address' }),
        blocked_until: Type.Union([Timestamp, Type.Null()], { description: 'This account is blocked for this address until then' }),
        throttled_until: Type.Union([Timestamp, Type.Null()], { description: 'The address is throttled for every account until then' }),
      }),
    ),
  },
  { title: 'Lockout' },
);

const tags = ['users'];

const iso = (at: Date | null) => at?.toISOString() ?? null;

function toBody(view: LockoutView) {
  return {
    ...view,
    locked_until: iso(view.locked_until),
    attempts: view.attempts.map((a) => ({ ...a, locked_until: iso(a.locked_until) })),
    addresses: view.addresses.map((a) => ({ ...a, blocked_until: iso(a.blocked_until), throttled_until: iso(a.throttled_until) })),
  };
}

/** An administrator's view of a user's brute-force state, and the unlock. */
export const lockoutRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/users/:id/lockout',
      {
        schema: {
          tags,
          summary: 'A user’s failed attempts, lockouts and blocked addresses',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Lockout, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.read', tenant: 'tenant.account.read' }),
      },
      async (request) => toBody(await getLockout(ctx, scopeOf(request), request.params.id)),
    );

    app.delete(
      '/users/:id/lockout',
      {
        schema: {
          tags,
          summary: 'Unlock a user: clears every lockout, the hard limit and every blocked address of theirs',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
      },
      async (request, reply) => {
        await clearLockout(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
