import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Scope } from '../../directory/permissions/effective.js';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { listUsers } from '../../directory/users/users.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { constantTimeEqual, fingerprint } from '../../platform/crypto/secrets.js';
import type { AuditEvent } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN } from '../../platform/http/schemas.js';
import { importUsers } from '../transfer/import.js';
import type { Numbered } from '../transfer/lines.js';
import { auth0Errors, idOf } from './kit.js';
import { toAuth0User } from './shapes.js';

const tags = ['management-api-v2'];
/** The largest import, as POST /api/v1/users/import takes (64 MiB). */
const IMPORT_BODY_LIMIT = 64 * 1024 * 1024;

const ExportField = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100 }), export_as: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })) },
  { additionalProperties: false },
);
const Job = Type.Object(
  {
    id: Type.String(),
    type: Type.Union([Type.Literal('users_import'), Type.Literal('users_export')]),
    status: Type.Literal('completed'),
    created_at: Type.String(),
    connection_id: Type.Optional(Type.String()),
    external_id: Type.Optional(Type.String()),
    summary: Type.Optional(
      Type.Object({ failed: Type.Integer(), updated: Type.Integer(), inserted: Type.Integer(), total: Type.Integer() }),
    ),
    format: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer()),
    fields: Type.Optional(Type.Array(ExportField)),
    location: Type.Optional(Type.String({ description: 'The export’s file (gzipped), a link signed for one hour' })),
  },
  { title: 'Auth0Job' },
);
/** An export link lives an hour; each read of the job signs a fresh one, as Auth0's does. */
const EXPORT_LINK_SECONDS = 3600;
/** The most users one export holds (as Auth0's own limit per export is 1,000,000 lines, never all at once in memory here: streamed). */
const EXPORT_MAX = 1_000_000;
/** What an export may name: the user's profile, never a credential. */
const EXPORTABLE = new Set([
  'user_id',
  'email',
  'email_verified',
  'username',
  'phone_number',
  'phone_verified',
  'name',
  'given_name',
  'family_name',
  'nickname',
  'picture',
  'locale',
  'blocked',
  'created_at',
  'updated_at',
  'last_login',
  'user_metadata',
  'app_metadata',
  'identities',
]);
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

interface ExportDetails {
  job: 'users_export';
  format: 'json' | 'csv';
  limit?: number;
  fields?: { name: string; export_as?: string }[];
  connection_id?: string;
}

const exportSignature = (ctx: AppContext, id: string, expires: number) =>
  fingerprint(ctx.masterKey, 'users-export-link', `${id}\0${expires}`);

function toJob(ctx: AppContext, event: AuditEvent) {
  if (event.action === 'iam.users.exported') {
    const d = event.details as unknown as ExportDetails;
    const expires = Math.floor(ctx.clock.now().getTime() / 1000) + EXPORT_LINK_SECONDS;
    const base = ctx.config.issuer.replace(/\/+$/, '');
    return {
      id: event.id,
      type: 'users_export' as const,
      status: 'completed' as const,
      created_at: event.created_at.toISOString(),
      format: d.format,
      ...(d.limit !== undefined && { limit: d.limit }),
      ...(d.fields && { fields: d.fields }),
      ...(d.connection_id && { connection_id: d.connection_id }),
      location: `${base}/api/v2/jobs/${event.id}/export.${d.format}.gz?expires=${expires}&signature=${exportSignature(ctx, event.id, expires)}`,
    };
  }
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
}

/** One user of an export: the chosen fields (renamed by `export_as`), or every exportable one. */
function exportRecord(user: Record<string, unknown>, fields: ExportDetails['fields']): Record<string, unknown> {
  if (!fields) return user;
  return Object.fromEntries(fields.map((f) => [f.export_as ?? f.name, user[f.name] ?? null]));
}

const csvCell = (value: unknown) => {
  const text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  // A spreadsheet must not run a cell as a formula.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
};

/** The export's lines, streamed page by page from the user list of the scope the job was made in. */
async function* exportLines(ctx: AppContext, scope: Scope, d: ExportDetails): AsyncGenerator<string> {
  const limit = Math.min(d.limit ?? EXPORT_MAX, EXPORT_MAX);
  const columns = d.fields?.map((f) => f.export_as ?? f.name) ?? [...EXPORTABLE];
  if (d.format === 'csv') yield `${columns.map(csvCell).join(',')}\n`;
  let cursor: string | undefined;
  let count = 0;
  do {
    const page = await listUsers(ctx, scope, {}, { limit: 200, cursor });
    for (const user of page.items) {
      if (count++ >= limit) return;
      const record = exportRecord(toAuth0User(user) as unknown as Record<string, unknown>, d.fields);
      yield d.format === 'csv' ? `${columns.map((c) => csvCell(record[c])).join(',')}\n` : `${JSON.stringify(record)}\n`;
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
}

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
        const job = toJob(ctx, event);
        return reply.status(201).send({
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
        .where('action', 'in', ['iam.users.imported', 'iam.users.exported'])
        .executeTakeFirst();
      const job = (event?.details as { job?: unknown } | undefined)?.job;
      const isJob = job === true || job === 'users_export';
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
      async (request) => toJob(ctx, await readJob(request, request.params.id)),
    );

    app.post(
      '/jobs/users-exports',
      {
        schema: {
          tags,
          summary:
            'Export users’ profiles (never a credential) as gzipped JSON lines or CSV; the job’s location is a link signed for an hour',
          security: ACCESS_TOKEN,
          body: Type.Object(
            {
              connection_id: Type.Optional(Type.String({ maxLength: 200 })),
              format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' })),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: EXPORT_MAX })),
              fields: Type.Optional(Type.Array(ExportField, { minItems: 1, maxItems: 50 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Job, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.read', tenant: 'tenant.account.read' }),
      },
      async (request, reply) => {
        const scope = scopeOf(request);
        const { format = 'json', limit, fields, connection_id } = request.body;
        const unknown = fields?.filter((f) => !EXPORTABLE.has(f.name)).map((f) => f.name) ?? [];
        if (unknown.length > 0) throw new AppError('invalid_field', `Not exportable: ${unknown.join(', ')}`, { fields: unknown });
        const jobId = ctx.ids.next();
        const details: ExportDetails = {
          job: 'users_export',
          format,
          ...(limit && { limit }),
          ...(fields && { fields }),
          ...(connection_id && { connection_id }),
        };
        // The job is its audit event: who asked, in which scope (its tenant), for what.
        await recordAudit(
          ctx.db,
          { ids: { next: () => jobId }, clock: ctx.clock },
          {
            action: 'iam.users.exported',
            actor: actorOf(request),
            tenantId: scope.kind === 'tenant' ? scope.tenantId : null,
            details: details as unknown as Record<string, unknown>,
          },
        );
        const event = await ctx.db.selectFrom('audit_events').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
        return reply.status(201).send(toJob(ctx, event));
      },
    );

    app.get(
      '/jobs/:id/export.:format',
      {
        schema: {
          tags,
          summary: 'The export’s file, by the signed link of its job (no token: the link is the credential, for an hour)',
          params: Type.Object(
            { id: Type.String({ maxLength: 100 }), format: Type.Union([Type.Literal('json.gz'), Type.Literal('csv.gz')]) },
            { additionalProperties: false },
          ),
          querystring: Type.Object(
            { expires: Type.Integer(), signature: Type.String({ maxLength: 100 }) },
            { additionalProperties: false },
          ),
          response: { ...auth0Errors },
        },
        config: { resource: 'job' },
      },
      async (request, reply) => {
        const { id } = request.params;
        const { expires, signature } = request.query;
        const valid = constantTimeEqual(Buffer.from(signature), Buffer.from(exportSignature(ctx, id, expires)));
        if (!valid || expires * 1000 < ctx.clock.now().getTime())
          throw new AppError('invalid_token', 'The export link is not valid or has expired; read the job again for a fresh one');
        const event = await ctx.db
          .selectFrom('audit_events')
          .selectAll()
          .where('id', '=', idOf(id, 'job'))
          .where('action', '=', 'iam.users.exported')
          .executeTakeFirst();
        const details = event?.details as unknown as ExportDetails | undefined;
        if (!event || details?.job !== 'users_export') throw notFound('Job');
        // The scope the job was made in (its tenant's users, or all for a system administrator): the signed link carries that grant.
        const scope: Scope = event.tenant_id
          ? { kind: 'tenant', tenantId: event.tenant_id, held: new Set() }
          : { kind: 'system', held: new Set() };
        // A gzipped file, as Auth0's export is (not a content encoding a client would undo on its own).
        reply.header('content-type', 'application/gzip').header('content-disposition', `attachment; filename="users.${details.format}.gz"`);
        return reply.send(Readable.from(exportLines(ctx, scope, details)).pipe(createGzip()) as never);
      },
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
