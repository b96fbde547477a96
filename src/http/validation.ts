import { Ajv, type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { AppError, type ErrorCode } from '../errors.js';

/**
 * Request validation. Bodies are checked strictly: no type coercion (`"5"` is not 5),
 * no unknown fields. Query strings and path parameters arrive as text, so they are
 * coerced to the declared types.
 */
function makeAjv(coerce: boolean) {
  const ajv = new Ajv({ allErrors: false, coerceTypes: coerce, removeAdditional: false, useDefaults: true, strict: false });
  addFormats.default(ajv);
  return ajv;
}

const strict = makeAjv(false);
const coercing = makeAjv(true);

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : coercing).compile(schema);

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
