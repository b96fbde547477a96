import type { TestGatehouse } from './gatehouse.js';

/** POST /api/v1/users/import with a raw body (JSON lines unless told); returns status and parsed answer. */
export async function importBody(
  gh: TestGatehouse,
  token: string,
  body: string | Buffer,
  options: { type?: string; query?: string; passphrase?: string } = {},
): Promise<{ status: number; body: any }> {
  const response = await gh.app.inject({
    method: 'POST',
    url: `/api/v1/users/import${options.query ? `?${options.query}` : ''}`,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': options.type ?? 'application/x-ndjson',
      ...(options.passphrase && { 'x-export-passphrase': options.passphrase }),
    },
    payload: body,
  });
  return { status: response.statusCode, body: response.json() };
}

/** JSON lines from records. */
export const jsonl = (...records: unknown[]) => `${records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')}\n`;
