import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { TestGatehouse } from '../../helpers/gatehouse.js';

/** Auth0's documented "Add user roles to ID and access tokens" action, as pasted. */
export const ADD_ROLES = `/**
 * Handler that will be called during the execution of a PostLogin flow.
 *
 * @param {Event} event - Details about the user and the context in which they are logging in.
 * @param {PostLoginAPI} api - Interface whose methods can be used to change the behavior of the login.
 */
exports.onExecutePostLogin = async (event, api) => {
  const namespace = 'https://my-app.example.com';
  if (event.authorization) {
    api.idToken.setCustomClaim(\`\${namespace}/roles\`, event.authorization.roles);
    api.accessToken.setCustomClaim(\`\${namespace}/roles\`, event.authorization.roles);
  }
};
`;

/** Auth0's "Deny access by IP address" example, with the office network 203.0.113.0/24. */
export const OFFICE_ONLY = `exports.onExecutePostLogin = async (event, api) => {
  const ip = event.request.ip || '';
  if (!ip.startsWith('203.0.113.')) {
    api.access.deny('Sign-ins are allowed from the office network only.');
  }
};
`;

/** Creates, deploys and binds an action; returns it. */
export async function deployed(
  gh: TestGatehouse,
  token: string,
  body: Record<string, unknown>,
  binding: { on_error?: 'deny' | 'continue'; tenant?: string; bindings?: { action_id: string; on_error?: string }[] } = {},
) {
  const action = await gh.created('/api/v1/actions', token, { trigger: 'post-login', ...body });
  const deploy = await gh.request('POST', `/api/v1/actions/${action.id}/deploy`, { token, body: {} });
  if (deploy.status !== 200) throw new Error(`deploy: ${deploy.status} ${JSON.stringify(deploy.body)}`);
  const trigger = (body.trigger as string | undefined) ?? 'post-login';
  const bindings = [...(binding.bindings ?? []), { action_id: action.id, ...(binding.on_error && { on_error: binding.on_error }) }];
  const bound = await gh.request('PUT', `/api/v1/triggers/${trigger}/bindings${binding.tenant ? `?tenant=${binding.tenant}` : ''}`, {
    token,
    body: { bindings },
  });
  if (bound.status !== 200) throw new Error(`bind: ${bound.status} ${JSON.stringify(bound.body)}`);
  return action as { id: string; signing_secret?: string };
}

/** Unbinds every action of a trigger in the caller's list. */
export async function unbind(gh: TestGatehouse, token: string, trigger = 'post-login', tenant?: string) {
  const response = await gh.request('PUT', `/api/v1/triggers/${trigger}/bindings${tenant ? `?tenant=${tenant}` : ''}`, {
    token,
    body: { bindings: [] },
  });
  if (response.status !== 200) throw new Error(`unbind: ${response.status} ${JSON.stringify(response.body)}`);
}

/** A local HTTP server on 127.0.0.2 (the tests allow only that address: 127.0.0.1 stays refused). */
export async function localServer(
  handler: (request: IncomingMessage, body: string, response: ServerResponse) => void,
): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => handler(request, body, response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.2:${port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
