import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import type { FastifySchemaCompiler } from 'fastify';
import { AppError, type ErrorCode } from '../errors.js';
import { UUID } from '../ids.js';
import { isEmailAddress } from '../mail/address.js';

/**
 * Request validation. Bodies are checked strictly: no type coercion (`"5"` is not 5),
 * no unknown fields. Query strings and path parameters arrive as text, so they are
 * coerced to the declared types.
 */
function makeAjv(coerce: boolean) {
  const ajv = new Ajv({ allErrors: false, coerceTypes: coerce, removeAdditional: false, useDefaults: true, strict: false });
  addFormats.default(ajv);
  // Narrower than ajv-formats, to ids as Gatehouse writes them (lower case, no `urn:uuid:`) and
  // timestamps that are real instants in years 1 to 9999 (no leap second, no year 0).
  ajv.addFormat('uuid', UUID);
  // The one email validator of every path (decision 213), not ajv-formats' ASCII-only one.
  ajv.addFormat('email', { type: 'string', validate: isEmailAddress });
  ajv.addFormat('date-time', {
    validate: (value: string) => {
      if (!(fullFormats['date-time'] as { validate: (s: string) => boolean }).validate(value)) return false;
      const year = new Date(value).getUTCFullYear();
      return !/:60(\.\d+)?(Z|[+-])/i.test(value) && year >= 1 && year <= 9999;
    },
  });
  return ajv;
}

const strict = makeAjv(false);
const coercing = makeAjv(true);

/** JSON nesting a request may use; metadata deeper than this is a mistake or an attack. */
export const MAX_DEPTH = 16;

/** Tests set `eager`: every schema of every route is then compiled at start, so a broken one fails there. */
export const schemaCompilation = { eager: false };

/**
 * Every request part passes the schema and then a walk that refuses what PostgreSQL (or
 * JSON.stringify) would choke on: NUL characters, lone UTF-16 surrogates, deep nesting.
 * A route's schema is compiled when its first request comes, not at start: compiling the
 * few hundred schemas of every route took a second of each start and 20 MB that a node
 * serving a few routes never needed (decision 331; test/platform/http/schemas.test.ts
 * compiles them all).
 */
export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const compile = () => (httpPart === 'body' ? strict : coercing).compile(schema);
  let compiled: ValidateFunction | undefined = schemaCompilation.eager ? compile() : undefined;
  const check = ((data: unknown) => {
    compiled ??= compile();
    const validate = compiled;
    if (!validate(data)) {
      check.errors = validate.errors;
      return false;
    }
    const problem = unstorable(data, '', 0);
    check.errors = problem ? [problem] : null;
    return problem === undefined;
  }) as ValidateFunction;
  return check;
};

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what is looked for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function unstorable(value: unknown, path: string, depth: number): ErrorObject | undefined {
  const error = (message: string): ErrorObject => ({ keyword: 'storable', instancePath: path, schemaPath: '', params: {}, message });
  if (typeof value === 'string') return UNSTORABLE.test(value) ? error('must not contain NUL characters or lone surrogates') : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth >= MAX_DEPTH) return error(`must not nest deeper than ${MAX_DEPTH} levels`);
  for (const [key, item] of Object.entries(value)) {
    if (UNSTORABLE.test(key)) return error('must not have keys with NUL characters or lone surrogates');
    const found = unstorable(item, `${path}/${key}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Turns the first schema violation into an error code that names the problem. */
export function validationError(errors: ErrorObject[], context: string): AppError {
  const error = errors[0];
  if (!error) return new AppError('invalid_request', 'The request is not valid');
  const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const field = (name?: string) => [path, name].filter(Boolean).join('.') || context;
  const fail = (code: ErrorCode, message: string, name?: string) => new AppError(code, message, { field: field(name), in: context });
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String(error.params.additionalProperty);
      return fail('unknown_field', `Unknown field "${field(name)}"`, name);
    }
    case 'required': {
      const name = String(error.params.missingProperty);
      return fail('missing_field', `Missing field "${field(name)}"`, name);
    }
    case 'type':
      return fail('invalid_type', `"${field()}" must be ${/^[aeiou]/.test(String(error.params.type)) ? 'an' : 'a'} ${error.params.type}`);
    case 'format':
      if (error.params.format === 'email') return fail('invalid_email', `"${field()}" is not a valid email address`);
      if (error.params.format === 'uuid') return fail('invalid_id', `"${field()}" is not a valid id`);
      return fail('invalid_field', `"${field()}" must be a valid ${error.params.format}`);
    default:
      return fail('invalid_field', `"${field()}" ${error.message ?? 'is not valid'}`);
  }
}
