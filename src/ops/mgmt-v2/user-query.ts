import type { UserFilter } from '../../directory/users/users.js';
import { AppError } from '../../platform/errors.js';

/**
 * Auth0's user search (`q`, its Lucene syntax) as far as Gatehouse's user list answers it
 * (decision 406): terms joined by spaces or `AND`, each `email:` or `name:` with a quoted or
 * bare value (exact), `value*` (the start), or `*value*` (anywhere), any letter case;
 * `user_id:` exact; a bare word searches email, name and username. Everything else (OR, NOT,
 * parentheses, ranges, `*value` alone, other fields) is refused with 400, never guessed at.
 */
export function parseUserQuery(q: string): UserFilter & { ids?: string[] } {
  const filter: UserFilter & { ids?: string[] } = {};
  const terms = tokens(q);
  for (const [i, term] of terms.entries()) {
    if (term === 'AND') {
      if (i === 0 || i === terms.length - 1) unsupported(`"AND" needs a term on each side`);
      continue;
    }
    if (term === 'OR' || term === 'NOT' || term === '&&' || term === '||') unsupported(`"${term}" is not supported; only AND`);
    const colon = term.indexOf(':');
    if (colon < 0) {
      set(filter, 'q', plain(term));
      continue;
    }
    const field = term.slice(0, colon);
    const raw = term.slice(colon + 1);
    if (raw.startsWith('[') || raw.startsWith('{')) unsupported('ranges are not supported');
    const quoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"');
    const value = quoted ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    if (value === '') unsupported(`${field}: needs a value`);
    const form = quoted ? 'exact' : wildcard(value);
    const text = quoted ? value : value.replace(/^\*|\*$/g, '');
    if (!quoted && /[*?]/.test(text)) unsupported('a wildcard only at the end (value*) or at both ends (*value*)');
    if (field === 'email') {
      if (form === 'exact') set(filter, 'email', text);
      else if (form === 'prefix') set(filter, 'email_prefix', text);
      else set(filter, 'email_contains', text);
    } else if (field === 'name') {
      if (form === 'exact') set(filter, 'name', text);
      else if (form === 'prefix') set(filter, 'name_prefix', text);
      else set(filter, 'name_contains', text);
    } else if (field === 'user_id') {
      if (form !== 'exact') unsupported('user_id takes an exact value');
      filter.ids = [...(filter.ids ?? []), text.slice(text.lastIndexOf('|') + 1)];
    } else {
      unsupported(`the field "${field}" is not searchable here; email, name and user_id are`);
    }
  }
  return filter;
}

function wildcard(value: string): 'exact' | 'prefix' | 'contains' {
  const starts = value.startsWith('*');
  const ends = value.endsWith('*') && value.length > 1;
  if (starts && ends) return 'contains';
  if (ends) return 'prefix';
  if (starts) unsupported('a leading wildcard alone (*value) is not supported; use *value*');
  return 'exact';
}

function plain(term: string): string {
  const text = term.replace(/^"|"$/g, '').replace(/^\*|\*$/g, '');
  if (!text || /[*?()[\]{}]/.test(text)) unsupported(`"${term}" is not supported`);
  return text;
}

function set<K extends keyof UserFilter>(filter: UserFilter, key: K, value: UserFilter[K]): void {
  if (filter[key] !== undefined) unsupported(`one condition per field and form (${String(key)})`);
  filter[key] = value;
}

/** Splits on spaces outside quotes; a parenthesis anywhere is refused. */
function tokens(q: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < q.length; i++) {
    const c = q[i]!;
    if (c === '\\' && quoted && i + 1 < q.length) {
      current += c + q[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (!quoted && (c === '(' || c === ')')) unsupported('parentheses are not supported');
    if (!quoted && /\s/.test(c)) {
      if (current) out.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  if (quoted) unsupported('a quote is not closed');
  if (current) out.push(current);
  if (out.length === 0) unsupported('the query is empty');
  return out;
}

function unsupported(why: string): never {
  throw new AppError('invalid_request', `Unsupported query (q): ${why}. See docs/migrate-from-auth0.md#management-api-v2`);
}
