import assert from 'node:assert/strict';
import type { AuditEventBody } from '../../helpers/gatehouse.js';
import { admin, gh } from '../../helpers/two-tenants.js';

export const MISSING_ID = '00000000-0000-7000-8000-000000000000';
export const USER_AGENT = 'GatehouseAuditTest/1.0 (+node:test)';

/** Every page of a query, walked through next_cursor. */
export async function walk(token: string, query: string, limit = 200): Promise<AuditEventBody[]> {
  const events: AuditEventBody[] = [];
  let cursor: string | null = null;
  do {
    const params = new URLSearchParams(query);
    params.set('limit', String(limit));
    if (cursor) params.set('cursor', cursor);
    const page = await gh.request('GET', `/api/v1/audit-events?${params}`, { token });
    assert.equal(page.status, 200, JSON.stringify(page.body));
    events.push(...page.body.events);
    cursor = page.body.next_cursor;
  } while (cursor);
  return events;
}

/** The events about one target with one action, as a system administrator sees them. */
export const eventsFor = (action: string, target: string) => walk(admin, new URLSearchParams({ action, target }).toString());

/** The one event about the target with the action (fails the test on none or more). */
export async function onlyEvent(action: string, target: string) {
  const events = await eventsFor(action, target);
  assert.equal(events.length, 1, `one ${action} for ${target}: ${JSON.stringify(events)}`);
  return events[0]!;
}

export const createRole = (token: string, body: Record<string, unknown>, headers?: Record<string, string>) =>
  gh.created<{ id: string; name: string; tenant_id: string | null }>('/api/v1/roles', token, body, headers);
