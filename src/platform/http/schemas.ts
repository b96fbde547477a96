import { type TSchema, Type } from '@sinclair/typebox';
import { DEFAULT_LIMIT, LONG_LIST_LIMIT, MAX_LIMIT } from '../db/pagination.js';

/** Shapes shared by every route; each feature declares its own next to its routes. */
export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'Stable error code' }),
    message: Type.String(),
    details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { title: 'Error' },
);

/** Every route answers 4xx/5xx in the one error shape (docs/api.md#errors). */
export const errorResponses = { '4xx': ErrorBody, '5xx': ErrorBody } as const;

export const Id = Type.String({ format: 'uuid' });
export const Timestamp = Type.String({ format: 'date-time' });
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const IdParams = Type.Object({ id: Id }, { additionalProperties: false });

export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT })),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
};

/** For lists that are short in practice: the same parameters, a whole page by default. */
export const LongPageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: LONG_LIST_LIMIT })),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
};

export const PageOf = <T extends TSchema>(items: T, key: string) =>
  Type.Object({ [key]: Type.Array(items), next_cursor: Nullable(Type.String()) });

export const Metadata = Type.Object(
  {},
  {
    additionalProperties: true,
    maxProperties: 100,
    description: 'A JSON object of at most 100 keys and 16 KB of JSON text (else 400 metadata_too_large)',
  },
);

/** Security requirements, as named in the OpenAPI document. */
type Security = Array<Record<string, string[]>>;
export const ACCESS_TOKEN: Security = [{ bearerAuth: [] }];
export const SESSION: Security = [{ bearerAuth: [] }, { sessionCookie: [] }];
