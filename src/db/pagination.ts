import { AppError } from '../errors.js';
import { isUuid } from '../ids.js';

export interface PageRequest {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
/** Lists that are short in practice (roles, permissions) come whole on one page unless they are not. */
export const LONG_LIST_LIMIT = MAX_LIMIT;

/** Cursors are opaque to clients: the base64url of the last id seen (ids are UUIDv7, time-ordered). */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isUuid(id)) throw new AppError('invalid_cursor', 'The cursor is not one this API returned');
  return id;
}

/** Takes `limit + 1` rows fetched in id order and cuts them into a page. */
export function toPage<T>(rows: T[], limit: number, idOf: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    next_cursor: rows.length > limit && last ? Buffer.from(idOf(last), 'utf8').toString('base64url') : null,
  };
}
