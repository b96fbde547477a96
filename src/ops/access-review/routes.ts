import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { inScope } from '../../directory/permissions/effective.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { notFound } from '../../platform/errors.js';
import { ACCESS_TOKEN, errorResponses, IdParams, Nullable } from '../../platform/http/schemas.js';
import { CSV_HEADER, csvRows } from './csv.js';
import { reviewTenants } from './review.js';
import { ReviewQuery, TenantReviewSchema, toReview } from './schema.js';

const tags = ['access review'];
const DEFAULT_INACTIVE_DAYS = 90;
/** Tenants per page of the system-wide review (and per read when it is streamed as CSV). */
const TENANTS_PER_PAGE = 20;

const wantsCsv = (request: FastifyRequest) => {
  const { format } = request.query as { format?: 'json' | 'csv' };
  return format === 'csv' || (format === undefined && /\btext\/csv\b/i.test(request.headers.accept ?? ''));
};

const csvResponse = {
  description: 'The same review as CSV (format=csv or Accept: text/csv): a header row, then one row per member or machine application',
};

/** Issue 6, part 5: who holds what, with the risks an auditor asks about first. */
export const accessReviewRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tenantsPage = (after: string | undefined, limit: number) =>
      ctx.db
        .selectFrom('tenants')
        .select(['id', 'slug', 'name', 'status'])
        .$if(after !== undefined, (q) => q.where('id', '>', after as string))
        .orderBy('id')
        .limit(limit)
        .execute();

    app.get(
      '/tenants/:id/access-review',
      {
        schema: {
          tags,
          summary:
            'Access review of a tenant: members, roles, effective permissions and their sources, MFA, last sign-in, risk flags, machine applications',
          security: ACCESS_TOKEN,
          params: IdParams,
          querystring: Type.Object(ReviewQuery, { additionalProperties: false }),
          response: { 200: TenantReviewSchema, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.access_review.read', tenant: 'tenant.access_review.read' }),
      },
      async (request, reply) => {
        if (!inScope(scopeOf(request), request.params.id)) throw notFound('Tenant');
        const tenant = await ctx.db
          .selectFrom('tenants')
          .select(['id', 'slug', 'name', 'status'])
          .where('id', '=', request.params.id)
          .executeTakeFirst();
        if (!tenant) throw notFound('Tenant');
        const inactiveDays = request.query.inactive_days ?? DEFAULT_INACTIVE_DAYS;
        const [review] = await reviewTenants(ctx, [tenant], { inactiveDays });
        if (wantsCsv(request)) {
          return reply
            .type('text/csv; charset=utf-8')
            .header('content-disposition', `attachment; filename="access-review-${tenant.slug}.csv"`)
            .send((CSV_HEADER + csvRows(review!)) as never);
        }
        return toReview(review!, ctx.clock.now(), inactiveDays);
      },
    );

    app.get(
      '/access-review',
      {
        schema: {
          tags,
          summary: 'Access review of every tenant (system administrators): pages of tenants as JSON, or every tenant streamed as CSV',
          description: csvResponse.description,
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              ...ReviewQuery,
              limit: Type.Optional(
                Type.Integer({ minimum: 1, maximum: 100, default: TENANTS_PER_PAGE, description: 'Tenants per page (JSON)' }),
              ),
              cursor: Type.Optional(Type.String({ format: 'uuid', description: 'next_cursor of the previous page' })),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({ tenants: Type.Array(TenantReviewSchema), next_cursor: Nullable(Type.String()) }),
            ...errorResponses,
          },
        },
        onRequest: requireAccess(ctx, { system: 'iam.access_review.read' }),
      },
      async (request, reply) => {
        const inactiveDays = request.query.inactive_days ?? DEFAULT_INACTIVE_DAYS;
        if (wantsCsv(request)) {
          async function* rows() {
            yield CSV_HEADER;
            let after: string | undefined;
            for (;;) {
              const tenants = await tenantsPage(after, TENANTS_PER_PAGE);
              for (const review of await reviewTenants(ctx, tenants, { inactiveDays })) yield csvRows(review);
              if (tenants.length < TENANTS_PER_PAGE) return;
              after = tenants.at(-1)!.id;
            }
          }
          return reply
            .type('text/csv; charset=utf-8')
            .header('content-disposition', 'attachment; filename="access-review.csv"')
            .send(Readable.from(rows()) as never);
        }
        const limit = request.query.limit ?? TENANTS_PER_PAGE;
        const tenants = await tenantsPage(request.query.cursor, limit + 1);
        const page = tenants.slice(0, limit);
        const now = ctx.clock.now();
        return {
          tenants: (await reviewTenants(ctx, page, { inactiveDays })).map((r) => toReview(r, now, inactiveDays)),
          next_cursor: tenants.length > limit ? page.at(-1)!.id : null,
        };
      },
    );
  };
