import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import type { AuditEvent } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN } from '../../platform/http/schemas.js';
import { importUsers } from '../transfer/import.js';
import type { Numbered } from '../transfer/lines.js';
import { auth0Errors, idOf } from './kit.js';

const tags = ['management-api-v2'];
/** The largest import, as POST /api/v1/users/import takes (64 MiB). */
const IMPORT_BODY_LIMIT = 64 * 1024 * 1024;

const Job = Type.Object(
  {
    id: Type.String(),
    type: Type.Literal('users_import'),
    status: Type.Literal('completed'),
    created_at: Type.String(),
    connection_id: Type.Optional(Type.String()),
    external_id: Type.Optional(Type.String()),
    summary: Type.Object({ failed: Type.Integer(), updated: Type.Integer(), inserted: Type.Integer(), total: Type.Integer() }),
  },
  { title: 'Auth0Job' },
);
const JobError = Type.Object({
  user: Type.Object({ email: Type.Optional(Type.String()), line: Type.Integer() }),
  errors: Type.Array(Type.Object({ code: Type.String(), message: Type.String() })),
});

interface JobDetails {
  created: number;
  updated: number;
  failed: number;
  connection_id?: string;
  external_id?: string;
  errors?: { line: number; error: string; message: string; email?: string }[];
}

const toJob = (event: AuditEvent) => {
  const d = event.details as unknown as JobDetails;
  return {
    id: event.id,
    type: 'users_import' as const,
    status: 'completed' as const,
    created_at: event.created_at.toISOString(),
    ...(d.connection_id && { connection_id: d.connection_id }),
    ...(d.external_id && { external_id: d.external_id }),
    summary: { failed: d.failed, updated: d.updated, inserted: d.created, total: d.failed + d.updated + d.created },
  };
};

/** A multipart field's text, or undefined. */
async function field(form: FormData, name: string): Promise<string | undefined> {
  const value = form.get(name);
  if (value === null) return undefined;
  return typeof value === 'string' ? value : await value.text();
}

/**
 * Auth0's user import job over Gatehouse's import (decision 414): the multipart form Auth0's
 * clients send (`users`: a JSON array of Auth0's bulk-import users, `connection_id`, `upsert`),
 * imported at once through `importUsers` (the same checks, batches and audit as
 * `POST /api/v1/users/import`), so the job is `completed` when it is answered. Its id is the
 * id of the import's audit event, which keeps the counts and the first failures.
 */
export const jobsV2 =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    // Parsed by the platform's own multipart reader (undici's, behind Response.formData), after the body limit.
    app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: IMPORT_BODY_LIMIT }, (_request, body, done) =>
      done(null, body),
    );

    app.post(
      '/jobs/users-imports',
      {
        bodyLimit: IMPORT_BODY_LIMIT,
        schema: {
          tags,
          summary:
            'Import users (multipart: users = a JSON array in Auth0’s bulk-import format, connection_id, upsert=true); done when answered',
          security: ACCESS_TOKEN,
          body: Type.Unsafe<Buffer>({ content: { 'multipart/form-data': { schema: { type: 'object' } } } }),
          response: { 201: Job, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.create', tenant: 'tenant.account.create' }),
      },
      async (request, reply) => {
        const type = request.headers['content-type'] ?? '';
        if (!type.toLowerCase().startsWith('multipart/form-data') || !Buffer.isBuffer(request.body)) {
          throw new AppError('unsupported_media_type', 'Send multipart/form-data with the users file');
        }
        let form: FormData;
        try {
          form = await new Response(request.body, { headers: { 'content-type': type } }).formData();
        } catch {
          throw new AppError('invalid_request', 'The multipart body cannot be read');
        }
        const upsert = await field(form, 'upsert');
        if (upsert !== 'true') {
          throw new AppError('invalid_request', 'Gatehouse’s import updates users whose email exists: send upsert=true', {
            field: 'upsert',
          });
        }
        const text = await field(form, 'users');
        if (text === undefined) throw new AppError('missing_field', 'The form needs the users file', { field: 'users' });
        let users: unknown;
        try {
          users = JSON.parse(text);
        } catch {
          throw new AppError('invalid_import_file', 'users: the file is not JSON');
        }
        if (!Array.isArray(users)) throw new AppError('invalid_import_file', 'users: the file is a JSON array of users');
        const connectionId = await field(form, 'connection_id');
        const externalId = await field(form, 'external_id');
        const jobId = ctx.ids.next();
        async function* lines(): AsyncGenerator<Numbered<string>> {
          for (const [i, user] of (users as unknown[]).entries()) yield { line: i + 1, value: JSON.stringify(user) };
        }
        const scope = scopeOf(request);
        await importUsers(ctx, scope, actorOf(request), lines(), { format: 'jsonl', jobId });
        const event = await ctx.db.selectFrom('audit_events').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
        const job = toJob(event);
        return reply
          .status(201)
          .send({
            ...job,
            ...(connectionId && { connection_id: connectionId.slice(0, 200) }),
            ...(externalId && { external_id: externalId.slice(0, 200) }),
          });
      },
    );

    const readJob = async (request: Parameters<typeof scopeOf>[0], id: string) => {
      const scope = scopeOf(request);
      const event = await ctx.db
        .selectFrom('audit_events')
        .selectAll()
        .where('id', '=', idOf(id, 'job'))
        .where('action', '=', 'iam.users.imported')
        .executeTakeFirst();
      const isJob = (event?.details as { job?: boolean } | undefined)?.job === true;
      if (!event || !isJob || (scope.kind === 'tenant' && event.tenant_id !== scope.tenantId)) throw notFound('Job');
      return event;
    };
    const JobParams = Type.Object({ id: Type.String({ maxLength: 100 }) }, { additionalProperties: false });

    app.get(
      '/jobs/:id',
      {
        schema: { tags, summary: 'An import job', security: ACCESS_TOKEN, params: JobParams, response: { 200: Job, ...auth0Errors } },
        onRequest: requireAccess(ctx, { system: 'iam.account.read', tenant: 'tenant.account.read' }),
        config: { resource: 'job' },
      },
      async (request) => toJob(await readJob(request, request.params.id)),
    );

    app.get(
      '/jobs/:id/errors',
      {
        schema: {
          tags,
          summary: 'The first 100 users an import job could not import',
          security: ACCESS_TOKEN,
          params: JobParams,
          response: { 200: Type.Array(JobError), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.read', tenant: 'tenant.account.read' }),
        config: { resource: 'job' },
      },
      async (request) => {
        const details = (await readJob(request, request.params.id)).details as unknown as JobDetails;
        return (details.errors ?? []).map((e) => ({
          user: { line: e.line, ...(e.email && { email: e.email }) },
          errors: [{ code: e.error, message: e.message }],
        }));
      },
    );
  };
