import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { ActionExecution, Action as ActionRow, ActionVersion } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { actorOf } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, Id, IdParams, Nullable, PageOf, PageQuery, Timestamp } from '../../platform/http/schemas.js';
import { TRIGGERS, type Trigger } from '../../platform/ports/actions.js';
import {
  createAction,
  DEFAULT_TIMEOUT_MS,
  deleteAction,
  deployAction,
  getAction,
  getBindings,
  listActions,
  listExecutions,
  listVersions,
  putBindings,
  updateAction,
} from './actions.js';
import { applyCommands, engineOf } from './runner.js';

const TriggerName = Type.Union(
  TRIGGERS.map((t) => Type.Literal(t)),
  { description: 'Auth0’s trigger names' },
);
const Runtime = Type.Union([Type.Literal('js'), Type.Literal('http')]);
const Code = Type.String({
  minLength: 1,
  maxLength: 100_000,
  description: 'JavaScript with Auth0 Actions’ exports (exports.onExecutePostLogin = async (event, api) => {…})',
});
const Url = Type.String({ minLength: 1, maxLength: 2000, description: 'http(s) endpoint of an http action (internal addresses refused)' });
const TimeoutMs = Type.Integer({
  minimum: 100,
  maximum: 20_000,
  description: `Wall-clock limit of one run (default ${DEFAULT_TIMEOUT_MS})`,
});
const SecretValue = Type.String({ maxLength: 4096 });
const ActionCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    trigger: TriggerName,
    runtime: Type.Optional(Runtime),
    code: Type.Optional(Code),
    url: Type.Optional(Url),
    timeout_ms: Type.Optional(TimeoutMs),
    secrets: Type.Optional(
      Type.Record(Type.String(), SecretValue, {
        description: 'Name → value; readable by the code as event.secrets.NAME only; never shown again',
      }),
    ),
    tenant: Type.Optional(
      Type.String({ format: 'uuid', description: 'System administrators: the owning tenant (default: a system action)' }),
    ),
  },
  { additionalProperties: false },
);
const ActionPatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    code: Type.Optional(Code),
    url: Type.Optional(Url),
    timeout_ms: Type.Optional(TimeoutMs),
    secrets: Type.Optional(
      Type.Record(Type.String(), Nullable(SecretValue), { description: 'Name → new value, or null to remove the secret; others are kept' }),
    ),
  },
  { additionalProperties: false },
);
const actionFields = {
  id: Type.String(),
  tenant_id: Nullable(Type.String({ description: 'null: a system action, run for every tenant' })),
  name: Type.String(),
  trigger: TriggerName,
  runtime: Runtime,
  code: Nullable(Type.String({ description: 'The draft (deploy makes it a version)' })),
  url: Nullable(Type.String()),
  timeout_ms: Type.Integer(),
  secrets: Type.Array(Type.String(), { description: 'Names only: values are never returned' }),
  deployed_version: Nullable(Type.Integer()),
  created_at: Timestamp,
  updated_at: Timestamp,
};
const Action = Type.Object(actionFields, { title: 'Action' });
const ActionCreated = Type.Object(
  {
    ...actionFields,
    signing_secret: Type.Optional(
      Type.String({ description: 'An http action: the key of its Gatehouse-Signature header, as webhooks’. Shown in this answer only' }),
    ),
  },
  { title: 'ActionCreated' },
);
const Version = Type.Object(
  {
    version: Type.Integer(),
    code: Nullable(Type.String()),
    url: Nullable(Type.String()),
    timeout_ms: Type.Integer(),
    created_by: Nullable(Type.String()),
    created_at: Timestamp,
  },
  { title: 'ActionVersion' },
);
const Outcome = Type.Union([Type.Literal('ok'), Type.Literal('error'), Type.Literal('timeout'), Type.Literal('memory')]);
const Execution = Type.Object(
  {
    id: Type.String(),
    trigger: Type.String(),
    version: Nullable(Type.Integer()),
    outcome: Outcome,
    duration_ms: Type.Integer(),
    error: Nullable(Type.String()),
    logs: Type.Array(Type.String()),
    dry_run: Type.Boolean(),
    created_at: Timestamp,
  },
  { title: 'ActionExecution' },
);
const Binding = Type.Object({
  action_id: Id,
  on_error: Type.Optional(Type.Union([Type.Literal('deny'), Type.Literal('continue')], { description: 'Default deny' })),
});
const BoundAction = Type.Object({
  action_id: Type.String(),
  name: Type.String(),
  on_error: Type.Union([Type.Literal('deny'), Type.Literal('continue')]),
  deployed_version: Nullable(Type.Integer()),
});
const TriggerParams = Type.Object({ trigger: TriggerName }, { additionalProperties: false });
const TenantQuery = Type.Object(
  {
    tenant: Type.Optional(
      Type.String({ format: 'uuid', description: 'System administrators: a tenant’s list (default: the system list)' }),
    ),
  },
  { additionalProperties: false },
);

const toAction = (a: ActionRow) => ({
  id: a.id,
  tenant_id: a.tenant_id,
  name: a.name,
  trigger: a.trigger as Trigger,
  runtime: a.runtime,
  code: a.code,
  url: a.url,
  timeout_ms: a.timeout_ms,
  secrets: a.secret_names,
  deployed_version: a.deployed_version,
  created_at: a.created_at.toISOString(),
  updated_at: a.updated_at.toISOString(),
});
const toVersion = (v: ActionVersion) => ({
  version: v.version,
  code: v.code,
  url: v.url,
  timeout_ms: v.timeout_ms,
  created_by: v.created_by,
  created_at: v.created_at.toISOString(),
});
const toExecution = (e: ActionExecution) => ({
  id: e.id,
  trigger: e.trigger,
  version: e.version,
  outcome: e.outcome as 'ok' | 'error' | 'timeout' | 'memory',
  duration_ms: e.duration_ms,
  error: e.error,
  logs: e.logs,
  dry_run: e.dry_run,
  created_at: e.created_at.toISOString(),
});

const tags = ['actions'];
const READ = { system: 'iam.action.read', tenant: 'tenant.action.read' } as const;
const WRITE = { system: 'iam.action.write', tenant: 'tenant.action.write' } as const;

/** Actions (Auth0-compatible code, or HTTP endpoints), their versions, bindings, dry runs and executions. */
export const actionRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/actions',
      {
        schema: {
          tags,
          summary: 'List actions (a tenant administrator sees the own tenant’s)',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            { tenant: Type.Optional(Id), trigger: Type.Optional(TriggerName), ...PageQuery },
            { additionalProperties: false },
          ),
          response: { 200: PageOf(Action, 'actions'), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => {
        const { limit, cursor, ...filter } = request.query;
        const page = await listActions(ctx, scopeOf(request), filter, { limit, cursor });
        return { actions: page.items.map(toAction), next_cursor: page.next_cursor };
      },
    );

    app.post(
      '/actions',
      {
        schema: {
          tags,
          summary: 'Create an action (a draft: deploy it, then bind it to its trigger)',
          security: ACCESS_TOKEN,
          body: ActionCreate,
          response: { 201: ActionCreated, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        const body = request.body;
        const runtime = body.runtime ?? (body.url !== undefined ? 'http' : 'js');
        const { action, signingSecret } = await createAction(ctx, scopeOf(request), actorOf(request), { ...body, runtime });
        return reply.status(201).send({ ...toAction(action), ...(signingSecret && { signing_secret: signingSecret }) });
      },
    );

    app.get(
      '/actions/:id',
      {
        schema: { tags, summary: 'Read an action', security: ACCESS_TOKEN, params: IdParams, response: { 200: Action, ...errorResponses } },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => toAction(await getAction(ctx.db, scopeOf(request), request.params.id)),
    );

    app.patch(
      '/actions/:id',
      {
        schema: {
          tags,
          summary: 'Change an action’s draft, name, time limit or secrets (the deployed version runs until the next deploy)',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: ActionPatch,
          response: { 200: Action, ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => toAction(await updateAction(ctx, scopeOf(request), actorOf(request), request.params.id, request.body)),
    );

    app.delete(
      '/actions/:id',
      {
        schema: {
          tags,
          summary: 'Delete an action, its versions, bindings and executions',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request, reply) => {
        await deleteAction(ctx, scopeOf(request), actorOf(request), request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/actions/:id/deploy',
      {
        schema: {
          tags,
          summary: 'Deploy the draft as a new version, or roll back with {version}',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: Type.Optional(
            Type.Object(
              { version: Type.Optional(Type.Integer({ minimum: 1, description: 'An earlier version to deploy again (roll back)' })) },
              { additionalProperties: false },
            ),
          ),
          response: { 200: Type.Object({ action: Action, version: Version }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => {
        const { action, version } = await deployAction(ctx, scopeOf(request), actorOf(request), request.params.id, request.body?.version);
        return { action: toAction(action), version: toVersion(version) };
      },
    );

    app.get(
      '/actions/:id/versions',
      {
        schema: {
          tags,
          summary: 'The deployed versions, newest first',
          security: ACCESS_TOKEN,
          params: IdParams,
          response: { 200: Type.Object({ versions: Type.Array(Version) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => ({ versions: (await listVersions(ctx, scopeOf(request), request.params.id)).map(toVersion) }),
    );

    app.post(
      '/actions/:id/test',
      {
        schema: {
          tags,
          summary: 'Dry run of the draft on an event: the commands it gives and its console output; nothing is applied',
          security: ACCESS_TOKEN,
          params: IdParams,
          body: Type.Object(
            {
              event: Type.Optional(
                Type.Object({}, { additionalProperties: true, description: 'Auth0’s event; event.secrets are the action’s own' }),
              ),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              outcome: Outcome,
              commands: Type.Array(Type.Array(Type.Unknown())),
              logs: Type.Array(Type.String()),
              error: Nullable(Type.String()),
              duration_ms: Type.Integer(),
              denied: Nullable(Type.String()),
              access_token_claims: Type.Record(Type.String(), Type.Unknown()),
              id_token_claims: Type.Record(Type.String(), Type.Unknown()),
            }),
            ...errorResponses,
          },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => {
        const scope = scopeOf(request);
        const action = await getAction(ctx.db, scope, request.params.id);
        const trigger = action.trigger as Trigger;
        if (action.runtime === 'js' ? !action.code : !action.url) throw new AppError('missing_field', 'The action has no code or url');
        const given: Record<string, unknown> = { ...(request.body.event ?? {}) };
        delete given.secrets;
        const engine = engineOf(ctx);
        const bound = {
          id: action.id,
          name: action.name,
          tenantId: action.tenant_id,
          runtime: action.runtime,
          version: action.deployed_version ?? 0,
          code: action.code,
          url: action.url,
          timeoutMs: action.timeout_ms,
          secretsSealed: action.secrets_sealed,
        };
        const run = await engine.execute(bound, trigger, given);
        await engine.record(bound, trigger, run, true);
        const result = { accessTokenClaims: {}, idTokenClaims: {}, mfa: false, ran: 1 } as Parameters<typeof applyCommands>[2];
        const applied = run.outcome === 'ok' ? applyCommands(trigger, run.commands, result, { app: {}, user: {} }) : undefined;
        await recordAudit(ctx.db, ctx, {
          action: 'iam.action.tested',
          actor: actorOf(request),
          tenantId: action.tenant_id,
          target: { type: 'action', id: action.id },
          details: { outcome: run.outcome },
        });
        return {
          outcome: applied?.problem ? 'error' : run.outcome,
          commands: run.commands,
          logs: run.logs,
          error: applied?.problem ?? run.error ?? null,
          duration_ms: run.durationMs,
          denied: result.denied?.reason ?? null,
          access_token_claims: result.accessTokenClaims,
          id_token_claims: result.idTokenClaims,
        };
      },
    );

    app.get(
      '/actions/:id/executions',
      {
        schema: {
          tags,
          summary: 'Recent runs, newest first: outcome, duration, console output',
          security: ACCESS_TOKEN,
          params: IdParams,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })) }, { additionalProperties: false }),
          response: { 200: Type.Object({ executions: Type.Array(Execution) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => ({
        executions: (await listExecutions(ctx, scopeOf(request), request.params.id, request.query.limit ?? 50)).map(toExecution),
      }),
    );

    app.get(
      '/triggers/:trigger/bindings',
      {
        schema: {
          tags,
          summary: 'The ordered actions of a trigger (the own tenant’s; a system administrator: ?tenant=, or the system list)',
          security: ACCESS_TOKEN,
          params: TriggerParams,
          querystring: TenantQuery,
          response: { 200: Type.Object({ bindings: Type.Array(BoundAction) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, READ),
      },
      async (request) => ({ bindings: await getBindings(ctx, scopeOf(request), request.params.trigger, request.query.tenant) }),
    );

    app.put(
      '/triggers/:trigger/bindings',
      {
        schema: {
          tags,
          summary: 'Replace the ordered actions of a trigger (deployed actions of the same owner and trigger)',
          security: ACCESS_TOKEN,
          params: TriggerParams,
          querystring: TenantQuery,
          body: Type.Object({ bindings: Type.Array(Binding, { maxItems: 20 }) }, { additionalProperties: false }),
          response: { 200: Type.Object({ bindings: Type.Array(BoundAction) }), ...errorResponses },
        },
        onRequest: requireAccess(ctx, WRITE),
      },
      async (request) => ({
        bindings: await putBindings(
          ctx,
          scopeOf(request),
          actorOf(request),
          request.params.trigger,
          request.query.tenant,
          request.body.bindings,
        ),
      }),
    );
  };
