import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { prepend } from '../../platform/http/prepend.js';
import { ACCESS_TOKEN, errorResponses } from '../../platform/http/schemas.js';
import { assertExportPassphrase } from './envelope.js';
import { exportUsers } from './export.js';
import { type ImportFormat, importUsers } from './import.js';
import { textLines, utf8Text } from './lines.js';
import { LINE_ERRORS } from './records.js';

/** The largest import body the API takes (docs/api.md); larger files go through `gatehouse users import`. */
export const IMPORT_BODY_LIMIT = 64 * 1024 * 1024;
const PASSPHRASE_HEADER = 'x-export-passphrase';

const FORMATS: Record<string, ImportFormat> = { 'application/x-ndjson': 'jsonl', 'application/jsonl': 'jsonl', 'text/csv': 'csv' };

const DefinitionCounts = Type.Object({
  tenants: Type.Integer(),
  permissions: Type.Integer(),
  roles: Type.Integer(),
  groups: Type.Integer(),
});

const ImportReport = Type.Object({
  created: Type.Integer(),
  updated: Type.Integer(),
  failed: Type.Integer(),
  errors: Type.Array(
    Type.Object({
      line: Type.Integer(),
      error: Type.Union(Object.keys(LINE_ERRORS).map((code) => Type.Literal(code))),
      message: Type.String(),
      email: Type.Optional(Type.String()),
    }),
    { description: 'The first 1,000 records (or definition lines) that were not imported' },
  ),
  definitions: Type.Object(
    { created: DefinitionCounts, existing: DefinitionCounts },
    { description: 'Tenants, permissions and roles of the definition lines: created, or found and left as they were' },
  ),
  warnings: Type.Array(
    Type.Object({
      line: Type.Integer(),
      warning: Type.Union([Type.Literal('definition_ignored'), Type.Literal('unresolved_api_permission')]),
      message: Type.String(),
    }),
    { description: 'What was done only in part' },
  ),
});

const passphraseHeader = (required: boolean) =>
  Type.Object({
    [PASSPHRASE_HEADER]: required
      ? Type.String({ minLength: 1, maxLength: 1024, description: 'Encrypts the secrets in the export (never put it in a URL)' })
      : Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'The passphrase of an encrypted Gatehouse export' })),
  });

export const userTransferRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.addContentTypeParser(Object.keys(FORMATS), { parseAs: 'buffer', bodyLimit: IMPORT_BODY_LIMIT }, (_request, body, done) =>
      done(null, body),
    );

    app.post(
      '/users/import',
      {
        bodyLimit: IMPORT_BODY_LIMIT,
        schema: {
          tags: ['users'],
          summary: 'Import users from JSON lines (Auth0 format, or a Gatehouse export) or CSV (Cognito columns); upserts by email',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              tenant: Type.Optional(
                Type.String({ minLength: 1, maxLength: 200, description: 'CSV: the tenant (slug or id) the rows join' }),
              ),
            },
            { additionalProperties: false },
          ),
          headers: passphraseHeader(false),
          body: Type.Unsafe<Buffer>({
            description: 'application/x-ndjson or text/csv, UTF-8, at most 64 MiB',
            content: {
              // The raw bytes (a Buffer), checked as UTF-8 by the handler: no JSON schema applies.
              'application/x-ndjson': { schema: { description: 'One user a line (Auth0 bulk import fields), or a Gatehouse export' } },
              'text/csv': {
                schema: { description: 'Cognito user import columns, plus a password hash column and a roles column (docs/operations.md)' },
              },
            },
          }),
          response: { 200: ImportReport, ...errorResponses },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.create', tenant: 'tenant.account.create' }),
      },
      async (request) => {
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const format = FORMATS[type];
        if (!format || !Buffer.isBuffer(request.body)) {
          throw new AppError('unsupported_media_type', 'Send application/x-ndjson or text/csv');
        }
        // The whole body is decoded (UTF-8 or 400 invalid_encoding) before anything is written.
        let text = '';
        for await (const piece of utf8Text([request.body])) text += piece;
        const lines = textLines([text]);
        return importUsers(ctx, scopeOf(request), actorOf(request), lines, {
          format,
          tenant: request.query.tenant,
          passphrase: request.headers[PASSPHRASE_HEADER],
        });
      },
    );

    app.get(
      '/users/export',
      {
        schema: {
          tags: ['users'],
          summary:
            'Export the users the caller outranks as JSON lines, secrets encrypted with the passphrase (re-import with POST /users/import)',
          security: ACCESS_TOKEN,
          headers: passphraseHeader(true),
          response: {
            200: {
              description: 'The export (format in docs/operations.md)',
              content: { 'application/x-ndjson': { schema: Type.String() } },
            },
            ...errorResponses,
          },
        },
        onRequest: requireAccess(ctx, { system: 'iam.account.export' }),
      },
      async (request, reply) => {
        const passphrase = assertExportPassphrase(request.headers[PASSPHRASE_HEADER]);
        const stream = exportUsers(ctx, scopeOf(request), passphrase, actorOf(request));
        // The header line (key derivation and audit event) comes before the status is sent: its failure is a clean error.
        const first = await stream.next();
        reply.header('content-type', 'application/x-ndjson').header('content-disposition', 'attachment; filename="gatehouse-users.jsonl"');
        return reply.send(Readable.from(prepend(first, stream)) as never);
      },
    );
  };
