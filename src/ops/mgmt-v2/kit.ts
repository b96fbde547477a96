import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Scope } from '../../directory/permissions/effective.js';
import type { Page, PageRequest } from '../../platform/db/pagination.js';
import { MAX_LIMIT } from '../../platform/db/pagination.js';
import { AppError } from '../../platform/errors.js';
import { asAppError, logFailure, setRetryAfter } from '../../platform/http/server.js';
import { isUuid } from '../../platform/ids.js';

/**
 * What every route of Auth0's Management API v2 (/api/v2, decisions 400–414) shares: its error
 * shape, its page-number pagination over Gatehouse's cursors, and its ids. The routes are a
 * thin mapping: each calls the domain function its /api/v1 twin calls, behind the same guard.
 */

/** Auth0's error body: `{statusCode, error, message, errorCode}`. */
export const Auth0Error = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String({ description: 'The HTTP reason phrase' }),
    message: Type.String(),
    errorCode: Type.String({
      description: 'A stable code: Auth0’s where one maps (invalid_body, insufficient_scope, inexistent_user…), else Gatehouse’s',
    }),
  },
  { title: 'Auth0Error' },
);
export const auth0Errors = { '4xx': Auth0Error, '5xx': Auth0Error } as const;

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** Gatehouse's codes that Auth0 names otherwise (decision 403). */
const AUTH0_CODES: Partial<Record<string, string>> = {
  unauthorized: 'invalid_token',
  invalid_token: 'invalid_token',
  forbidden: 'insufficient_scope',
  email_taken: 'user_exists',
  username_taken: 'username_exists',
  too_many_attempts: 'too_many_requests',
};

/** The resource a route names, for Auth0's `inexistent_<resource>` on a 404 (set with `config: { resource }`). */
declare module 'fastify' {
  interface FastifyContextConfig {
    resource?: string;
  }
}

/** The error handler of the /api/v2 scope: every refusal in Auth0's shape. */
export function auth0ErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const appError = asAppError(error, request);
  logFailure(request, error, appError, 'Management API request failed');
  setRetryAfter(reply, appError);
  const status = appError.status;
  let errorCode = AUTH0_CODES[appError.code] ?? appError.code;
  let message = appError.message;
  if (error.validation) {
    const part = error.validationContext;
    errorCode = part === 'body' ? 'invalid_body' : part === 'querystring' ? 'invalid_query_string' : 'invalid_uri';
    message = `Payload validation error: ${appError.message}`;
  } else if (appError.code === 'not_found' && request.routeOptions.config?.resource) {
    errorCode = `inexistent_${request.routeOptions.config.resource}`;
  }
  return reply
    .status(status)
    .type('application/json')
    .send({ statusCode: status, error: REASONS[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request'), message, errorCode });
}

/** Auth0's pagination parameters (decision 404). */
export const PageParams = {
  page: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'The page, from 0' })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  include_totals: Type.Optional(Type.Boolean({ default: false })),
};
export interface PageInput {
  page?: number | undefined;
  per_page?: number | undefined;
  include_totals?: boolean | undefined;
}

/** Auth0 pages through at most the first 1000 results of a list; so does Gatehouse (decision 404). */
export const PAGE_WINDOW = 1000;

/**
 * One page of a list by number, over Gatehouse's cursor pagination: the cursor pages are
 * walked (200 rows at a time) up to the window of 1000, so a page costs at most six queries.
 * With `include_totals`, the total is counted the same way: exact up to 1000, and 1000 beyond.
 */
export async function pageOf<T>(
  list: (page: PageRequest) => Promise<Page<T>>,
  input: PageInput,
): Promise<{ items: T[]; start: number; limit: number; total?: number }> {
  const perPage = input.per_page ?? 50;
  const start = (input.page ?? 0) * perPage;
  if (start + perPage > PAGE_WINDOW) {
    throw new AppError('invalid_request', `Only the first ${PAGE_WINDOW} results can be paged through; narrow the query (q)`);
  }
  const wanted = input.include_totals ? PAGE_WINDOW : start + perPage;
  const rows: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await list({ limit: Math.min(MAX_LIMIT, wanted - rows.length), cursor });
    rows.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && rows.length < wanted);
  return { items: rows.slice(start, start + perPage), start, limit: perPage, ...(input.include_totals && { total: rows.length }) };
}

/** A list's answer: the bare array, or with `include_totals` Auth0's `{start, limit, length, total, <key>}`. */
export function listAnswer<T>(key: string, input: PageInput, page: { items: T[]; start: number; limit: number; total?: number }) {
  if (!input.include_totals) return page.items;
  return { start: page.start, limit: page.limit, length: page.items.length, total: page.total ?? page.items.length, [key]: page.items };
}

/** The response schema of a list: an array, the object with totals, or a checkpoint page (`next`: the `from` of the next one). */
export const ListOf = <T extends TSchema>(item: T, key: string) =>
  Type.Union([
    Type.Array(item),
    Type.Object({ start: Type.Integer(), limit: Type.Integer(), length: Type.Integer(), total: Type.Integer(), [key]: Type.Array(item) }),
    Type.Object({ [key]: Type.Array(item), next: Type.Optional(Type.String()) }),
  ]);

/** Auth0's checkpoint pagination (`from`, `take`), which its SDK uses for organizations, members, client grants and connections. */
export const CheckpointParams = {
  from: Type.Optional(Type.String({ maxLength: 200, description: 'The `next` of the previous page' })),
  take: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Default 50' })),
};
export interface CheckpointInput extends PageInput {
  from?: string | undefined;
  take?: number | undefined;
}

/**
 * A list by checkpoint when `from` or `take` is given (Gatehouse's cursor is the checkpoint,
 * decision 404), else by page number; `map` turns each record into Auth0's shape.
 */
export async function listPage<T, U>(
  key: string,
  input: CheckpointInput,
  list: (page: PageRequest) => Promise<Page<T>>,
  map: (item: T) => U,
) {
  if (input.from !== undefined || input.take !== undefined) {
    const page = await list({ limit: input.take ?? 50, cursor: input.from });
    return { [key]: page.items.map(map), ...(page.next_cursor && { next: page.next_cursor }) };
  }
  const page = await pageOf(list, input);
  return listAnswer(key, input, { ...page, items: page.items.map(map) });
}

/**
 * A user id as Auth0 code passes it: Gatehouse's id (the tokens' `sub`), or that id behind a
 * provider prefix (`auth0|<id>`) as Auth0 writes its own (decision 402). Anything else is no
 * user of ours: 404, as an unknown id is.
 */
export function userIdOf(value: string): string {
  const bare = value.includes('|') ? value.slice(value.lastIndexOf('|') + 1) : value;
  if (!isUuid(bare)) throw new AppError('not_found', 'The user does not exist.');
  return bare;
}

/** An id in a path that must be one of ours (a uuid); anything else is 404, never a database error. */
export function idOf(value: string, what: string): string {
  if (!isUuid(value)) throw new AppError('not_found', `The ${what} does not exist.`);
  return value;
}

/** The tenant a per-user mapping acts in (decision 405): the caller's own in tenant scope, else the user's home tenant. */
export function actingTenant(scope: Scope, homeTenantId: string | null): string {
  if (scope.kind === 'tenant') return scope.tenantId;
  if (!homeTenantId)
    throw new AppError('invalid_request', 'This user has no home tenant; manage its memberships through /api/v2/organizations');
  return homeTenantId;
}

export const StringParam = (what: string) =>
  Type.Object({ id: Type.String({ minLength: 1, maxLength: 300, description: what }) }, { additionalProperties: false });
