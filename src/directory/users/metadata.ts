import { AppError } from '../../platform/errors.js';

/**
 * A user's `app_metadata` and `user_metadata` (Auth0's names, decision 340): JSON objects of
 * at most 16 KB each, counted as their UTF-8 JSON text. Every writer checks it: the admin API,
 * a user's own profile, an import line, an action's `api.user.setAppMetadata`.
 */
export const METADATA_MAX_BYTES = 16 * 1024;

export type MetadataField = 'app_metadata' | 'user_metadata';

/** Why the value is not a storable metadata object, or undefined when it is. */
export function metadataProblem(field: MetadataField, value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return `"${field}" must be a JSON object`;
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > METADATA_MAX_BYTES) return `"${field}" is ${bytes} bytes of JSON; at most ${METADATA_MAX_BYTES}`;
  return undefined;
}

/** 400 `metadata_too_large` (or `invalid_field` for a non-object) unless each given field fits. */
export function assertMetadata(input: { app_metadata?: unknown; user_metadata?: unknown }): void {
  for (const field of ['app_metadata', 'user_metadata'] as const) {
    const value = input[field];
    if (value === undefined) continue;
    const problem = metadataProblem(field, value);
    if (!problem) continue;
    const object = value !== null && typeof value === 'object' && !Array.isArray(value);
    throw new AppError(object ? 'metadata_too_large' : 'invalid_field', problem, { field, max_bytes: METADATA_MAX_BYTES });
  }
}
