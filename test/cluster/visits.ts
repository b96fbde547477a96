import assert from 'node:assert/strict';
import { NODE_HEADER } from './cluster.js';

/**
 * Which node answered each request this process sends to the balancer. The global fetch is
 * wrapped once, so the hosted-page cookie jar (test/helpers/oidc.ts) and openid-client are
 * recorded alike, by the header the documented HAProxy configuration adds.
 */
const visits: { url: string; node: string }[] = [];
let wrapped = false;

export function recordVisits(balancer: string): void {
  if (wrapped) return;
  wrapped = true;
  const original = globalThis.fetch;
  globalThis.fetch = async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const response = await original(input, init);
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith(balancer)) visits.push({ url, node: response.headers.get(NODE_HEADER) ?? '' });
    return response;
  };
}

/** Runs `flow` and checks that each of its requests landed on another node than the one before, and that it reached all three. */
export async function onEveryNode<T>(flow: () => Promise<T>): Promise<T> {
  const start = visits.length;
  const result = await flow();
  const seen = visits.slice(start);
  assert.ok(seen.length >= 3, `only ${seen.length} requests reached the balancer`);
  for (const [i, visit] of seen.entries()) {
    assert.ok(visit.node, `no ${NODE_HEADER} on ${visit.url}`);
    if (i > 0)
      assert.notEqual(visit.node, seen[i - 1]?.node, `two requests in a row on ${visit.node}: ${seen[i - 1]?.url} then ${visit.url}`);
  }
  assert.equal(new Set(seen.map((v) => v.node)).size, 3, `nodes reached: ${[...new Set(seen.map((v) => v.node))]}`);
  return result;
}
