import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppContext } from '../../platform/context.js';
import { notFound } from '../../platform/errors.js';
import { errorResponses } from '../../platform/http/schemas.js';
import { isUuid } from '../../platform/ids.js';
import { passwordPolicyFor, passwordRulesText } from './policy.js';

const PasswordPolicy = Type.Object(
  {
    min_length: Type.Integer(),
    max_length: Type.Integer(),
    history: Type.Integer({ description: 'How many previous passwords may not be reused (0: none)' }),
    check_breached: Type.Boolean({ description: 'New passwords are checked with Have I Been Pwned (k-anonymity)' }),
    common_passwords_refused: Type.Boolean({ description: 'The 100,000 most common passwords are refused' }),
    user_info_refused: Type.Boolean({ description: 'A password may not contain the email address or name' }),
    rules: Type.Array(Type.String(), { description: 'The rules in words, for a sign-up or change-password form' }),
  },
  { title: 'PasswordPolicy' },
);

/** Public: the rules a new password must meet in a tenant, so custom forms can show them before submitting. */
export const passwordPolicyRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/password-policy',
      {
        schema: {
          tags: ['tenants'],
          summary: 'The password rules of a tenant (by slug or id; without one: the system tenant’s, for users with no home tenant)',
          querystring: Type.Object(
            { tenant: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
            { additionalProperties: false },
          ),
          response: { 200: PasswordPolicy, ...errorResponses },
        },
      },
      async (request) => {
        let tenantId: string | null = null;
        const wanted = request.query.tenant;
        if (wanted) {
          const tenant = await ctx.db
            .selectFrom('tenants')
            .select('id')
            .where((eb) => (isUuid(wanted) ? eb('id', '=', wanted) : eb(eb.fn('lower', ['slug']), '=', wanted.toLowerCase())))
            .where('status', '=', 'active')
            .executeTakeFirst();
          if (!tenant) throw notFound('Tenant');
          tenantId = tenant.id;
        }
        const policy = await passwordPolicyFor(ctx, tenantId);
        return { ...policy, common_passwords_refused: true, user_info_refused: true, rules: passwordRulesText(policy) };
      },
    );
  };
