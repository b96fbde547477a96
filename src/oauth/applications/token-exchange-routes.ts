import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams } from '../../platform/http/schemas.js';
import { getExchangeSettings, setExchangeSettings } from './token-exchange.js';

const Audiences = (description: string) => Type.Array(Type.String({ minLength: 1, maxLength: 600 }), { maxItems: 100, description });

const Settings = Type.Object(
  {
    subject_audiences: Audiences('APIs the application serves: a user’s token for one of them is what it may exchange'),
    target_audiences: Audiences('APIs it may get a token for on the user’s behalf (delegation, with an `act` claim)'),
    impersonation_audiences: Audiences('APIs an administrator’s impersonation of a user through this application may reach'),
  },
  { additionalProperties: false, title: 'TokenExchangeSettings' },
);

const tags = ['applications'];
const READ = { system: 'iam.application.read', tenant: 'tenant.applications.read' } as const;
const WRITE = { system: 'iam.application.write', tenant: 'tenant.applications.write' } as const;

/** RFC 8693 token exchange: which APIs an application serves, exchanges to, and impersonates for (decision 431). */
export const tokenExchangeRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/applications/:id/token-exchange',
      {
        schema: {
          tags,
          summary: 'The APIs the application may exchange tokens from and to',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Settings, ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => getExchangeSettings(ctx, scopeOf(request), request.params.id),
    );

    app.put(
      '/applications/:id/token-exchange',
      {
        schema: {
          tags,
          summary: 'Set the APIs the application may exchange tokens from and to (each an API of its tenant)',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: Settings,
          response: { 200: Settings, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => setExchangeSettings(ctx, scopeOf(request), actorOf(request), request.params.id, request.body),
    );
  };
