import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import type { AppContext } from '../../platform/context.js';
import type { AuditEvent } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { ACCESS_TOKEN } from '../../platform/http/schemas.js';
import { listAuditEvents } from '../audit/queries.js';
import { auth0Errors, CheckpointParams, idOf, ListOf, listPage, PageParams } from './kit.js';

const tags = ['management-api-v2'];
const AUDIT_READ = { system: 'iam.audit.read', tenant: 'tenant.audit.read' } as const;

/**
 * Auth0's log event type codes for the audit events that have one (decision 410); an
 * administrator's change made through the API is `sapi` (`fapi` when it failed), and any other
 * event keeps Gatehouse's name in `details.gatehouse_action` under type `gh`.
 */
const TYPES: Record<string, [string, string]> = {
  'iam.user.loginSucceeded': ['s', 'Success Login'],
  'iam.user.loginFailed': ['f', 'Failed Login'],
  'iam.user.logout': ['slo', 'Success Logout'],
  'iam.user.locked': ['limit_wc', 'Blocked Account'],
  'iam.user.signedUp': ['ss', 'Success Signup'],
  'iam.user.emailVerified': ['sv', 'Success Verification Email'],
  'iam.user.verificationEmailSent': ['svr', 'Success Verification Email Request'],
  'iam.user.passwordChanged': ['scp', 'Success Change Password'],
  'iam.user.passwordReset': ['scp', 'Success Change Password'],
  'iam.user.passwordResetRequested': ['scpr', 'Success Change Password Request'],
  'iam.user.deleted': ['sdu', 'Success User Deletion'],
  'iam.mfa.enrolled': ['gd_enrollment_complete', 'Guardian enrollment complete'],
  'iam.mfa.challengeFailed': ['gd_auth_failed', 'MFA Auth failed'],
  'iam.oauth.refreshTokenReused': ['ferrt', 'Failed Exchange of Rotating Refresh Token'],
};
const GRANT_TYPES: Record<string, [string, string]> = {
  client_credentials: ['seccft', 'Success Exchange of Client Credentials for Access Token'],
  authorization_code: ['seacft', 'Success Exchange of Authorization Code for Access Token'],
  refresh_token: ['sertft', 'Success Exchange of Refresh Token for Access Token'],
  password: ['sepft', 'Success Exchange of Password for Access Token'],
  'urn:ietf:params:oauth:grant-type:device_code': ['sede', 'Success Exchange of Device Code for Access Token'],
};
/** What an administrator does through the API: created, modified, deleted and the like. */
const API_OPERATION =
  /\.(created|modified|deleted|secretRotated|grantCreated|grantModified|grantDeleted|rotated|retired|invited|disabled|passwordResetForced|sessionsRevoked|unlocked|tokensRevoked|imported|exported|reset|removed|blockCreated|blockDeleted)$/;

export function logType(event: Pick<AuditEvent, 'action' | 'outcome' | 'details'>): [string, string] {
  const known = TYPES[event.action];
  if (known) return known;
  const details = (event.details ?? {}) as Record<string, unknown>;
  if (event.action === 'iam.token.created') {
    const grant = GRANT_TYPES[String(details.grant_type ?? '')];
    return grant ?? ['s', 'Success Login'];
  }
  if (API_OPERATION.test(event.action))
    return event.outcome === 'failure' ? ['fapi', 'Failed API Operation'] : ['sapi', 'Success API Operation'];
  return ['gh', event.action];
}

export const LogEvent = Type.Object(
  {
    log_id: Type.String(),
    date: Type.String(),
    type: Type.String({ description: 'Auth0’s type code (decision 410)' }),
    description: Type.String(),
    ip: Type.Optional(Type.String()),
    user_agent: Type.Optional(Type.String()),
    client_id: Type.Optional(Type.String()),
    user_id: Type.Optional(Type.String()),
    organization_id: Type.Optional(Type.String()),
    details: Type.Object({}, { additionalProperties: true }),
  },
  { title: 'Auth0LogEvent' },
);

function toLog(event: AuditEvent) {
  const [type, description] = logType(event);
  const details: Record<string, unknown> = {
    ...((event.details ?? {}) as Record<string, unknown>),
    gatehouse_action: event.action,
    outcome: event.outcome,
  };
  const clientId = event.actor_type === 'client' ? event.actor_id : typeof details.client_id === 'string' ? details.client_id : null;
  const userId = event.actor_type === 'user' ? event.actor_id : event.target_type === 'user' ? event.target_id : null;
  return {
    log_id: event.id,
    date: event.created_at.toISOString(),
    type,
    description,
    ...(event.ip && { ip: event.ip }),
    ...(event.user_agent && { user_agent: event.user_agent }),
    ...(clientId && { client_id: clientId }),
    ...(userId && { user_id: userId }),
    ...(event.tenant_id && { organization_id: event.tenant_id }),
    details: { ...details, ...(event.target_type && { target: { type: event.target_type, id: event.target_id } }) },
  };
}

/** Auth0's log search, as far as the audit trail's filters answer it: `user_id:` (who acted) and `type:` is refused. */
function logFilter(q: string | undefined): { actor?: string } {
  if (!q) return {};
  const match = /^user_id:"?([^"\s]+)"?$/.exec(q.trim());
  if (!match) throw new AppError('invalid_request', 'Unsupported query (q): only user_id:"<id>" is supported on /api/v2/logs');
  return { actor: match[1]! };
}

/** Auth0's logs over the audit trail (decision 410): newest first, the tenant's own in tenant scope. */
export const logsV2 =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/logs',
      {
        schema: {
          tags,
          summary: 'The audit trail as Auth0 log events, newest first',
          security: ACCESS_TOKEN,
          querystring: Type.Object(
            {
              q: Type.Optional(Type.String({ maxLength: 300 })),
              search: Type.Optional(Type.String({ maxLength: 300, description: 'The SDK’s name of q' })),
              sort: Type.Optional(Type.Union([Type.Literal('date:-1')], { description: 'Newest first, the only order' })),
              fields: Type.Optional(Type.String({ maxLength: 500 })),
              include_fields: Type.Optional(Type.Boolean()),
              ...PageParams,
              ...CheckpointParams,
            },
            { additionalProperties: false },
          ),
          response: { 200: ListOf(LogEvent, 'logs'), ...auth0Errors },
        },
        onRequest: requireAccess(ctx, AUDIT_READ),
      },
      async (request) => {
        const scope = scopeOf(request);
        const filter = logFilter(request.query.q ?? request.query.search);
        return listPage('logs', request.query, (p) => listAuditEvents(ctx, scope, filter, p), toLog);
      },
    );

    app.get(
      '/logs/:id',
      {
        schema: {
          tags,
          summary: 'One log event',
          security: ACCESS_TOKEN,
          params: Type.Object({ id: Type.String({ maxLength: 100 }) }, { additionalProperties: false }),
          response: { 200: LogEvent, ...auth0Errors },
        },
        onRequest: requireAccess(ctx, AUDIT_READ),
        config: { resource: 'log' },
      },
      async (request) => {
        const scope = scopeOf(request);
        const event = await ctx.db
          .selectFrom('audit_events')
          .selectAll()
          .where('id', '=', idOf(request.params.id, 'log event'))
          .executeTakeFirst();
        if (!event || (scope.kind === 'tenant' && event.tenant_id !== scope.tenantId)) throw notFound('Log event');
        return toLog(event);
      },
    );
  };
