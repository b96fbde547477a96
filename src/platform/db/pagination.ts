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
function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isUuid(id)) throw new AppError('invalid_cursor', 'The cursor is not one this API returned');
  return id;
}

/** Takes `limit + 1` rows fetched in id order and cuts them into a page. */
function toPage<T>(rows: T[], limit: number, idOf: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    next_cursor: rows.length > limit && last ? Buffer.from(idOf(last), 'utf8').toString('base64url') : null,
  };
}

/**
 * Cursor pagination, the one way every list pages: `fetch` is asked for `limit + 1` rows
 * in id order after (or, listing newest first, before) the cursor's id; the extra row,
 * if it comes, says there is a next page.
 */
export async function paginate<T>(
  page: PageRequest,
  defaultLimit: number,
  idOf: (row: T) => string,
  fetch: (rows: number, cursorId: string | undefined) => Promise<T[]>,
): Promise<Page<T>> {
  const limit = page.limit ?? defaultLimit;
  return toPage(await fetch(limit + 1, decodeCursor(page.cursor)), limit, idOf);
}
