import { AUDIT_ACTIONS } from '../../platform/audit/catalog.js';
import { AppError } from '../../platform/errors.js';

/**
 * Which events a webhook receives: exact names from the catalog, or a prefix ending in
 * `*` (`iam.user.*` = every name that starts with `iam.user.`; `*` = every event).
 */
const PATTERN = /^(\*|[a-z][a-zA-Z0-9]*(\.[a-zA-Z][a-zA-Z0-9]*)*(\.\*)?)$/;

export function matchesEvent(patterns: readonly string[], event: string): boolean {
  return patterns.some((p) => (p.endsWith('*') ? event.startsWith(p.slice(0, -1)) : p === event));
}

/** Each pattern well formed and matching at least one event of the catalog (a typo is refused, not silent). */
export function checkEventPatterns(patterns: readonly string[]): string[] {
  const unique = [...new Set(patterns)];
  const bad = unique.filter((p) => !PATTERN.test(p) || !AUDIT_ACTIONS.some((name) => matchesEvent([p], name)));
  if (bad.length > 0) {
    throw new AppError('unknown_event', 'Each entry must be an event name of the catalog, or a prefix ending in * (iam.user.*)', {
      events: bad,
    });
  }
  return unique;
}
