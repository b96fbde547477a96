import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppContext } from '../../platform/context.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams } from '../../platform/http/schemas.js';
import { requireAccess, scopeOf } from '../permissions/guard.js';
import { Policies, PoliciesPatch, readPolicies, updatePolicies } from './policies.js';

const tags = ['tenants'];

/** A tenant's policies: a system administrator for any tenant, a tenant administrator for the own. */
export const policyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/tenants/:id/policies',
      {
        schema: {
          tags,
          summary: 'Read a tenant’s policies (password, lockout, MFA, audit retention), defaults filled in',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Policies, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.read', tenant: 'tenant.profile.read' }),
      },
      async (request) => readPolicies(ctx, scopeOf(request), request.params.id),
    );

    app.patch(
      '/tenants/:id/policies',
      {
        schema: {
          tags,
          summary: 'Change some policy values; the others stay as they were',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: PoliciesPatch,
          response: { 200: Policies, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.tenant.update', tenant: 'tenant.profile.update' }),
      },
      async (request) => updatePolicies(ctx, scopeOf(request), actorOf(request), request.params.id, request.body),
    );
  };
