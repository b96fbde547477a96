import type { TestGatehouse } from './gatehouse.js';

/** POST /oauth/token with `fields` as a form body, through Fastify's inject; the raw answer. */
export function postToken(gh: TestGatehouse, fields: Record<string, string>) {
  return gh.app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(fields).toString(),
  });
}
