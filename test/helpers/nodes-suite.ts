import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD } from './gatehouse.js';
import { startTwoNodes, type TwoNodes } from './two-nodes.js';

/** The counters are shared: what one node counts, the other enforces (issue 4, part 1). */
export function nodesSuite(name: string, config: Record<string, string> = {}) {
  describe(name, () => {
    let nodes: TwoNodes;
    let admin: string;

    before(async () => {
      nodes = await startTwoNodes(config);
      const session = (await nodes.a.request('POST', '/api/v1/session', { username: ADMIN_EMAIL, password: ADMIN_PASSWORD })).body.token;
      admin = (await nodes.a.request('POST', '/api/v1/token', { organization: 'system' }, session)).body.token;
    });
    after(() => nodes.stop());

    const signIn = (node: 'a' | 'b', username: string, password: string) =>
      nodes[node].request('POST', '/api/v1/session', { username, password });

    it('failures counted on one node lock the account on the other', async () => {
      const user = await nodes.a.request('POST', '/api/v1/users', { email: 'shared@nodes.test', password: PASSWORD }, admin);
      assert.equal(user.status, 201);
      for (const node of ['a', 'b', 'a', 'b', 'a'] as const) {
        assert.equal((await signIn(node, 'shared@nodes.test', 'wrong-password')).status, 401);
      }
      const refused = await signIn('b', 'shared@nodes.test', PASSWORD);
      assert.equal(refused.status, 429, `the fifth failure (on node a) locks the account on node b (${nodes.mode})`);
      assert.equal(refused.body.error, 'too_many_attempts');
      const state = await nodes.b.request('GET', `/api/v1/users/${user.body.id}/lockout`, undefined, admin);
      assert.equal(state.body.attempts[0].failures, 5);
      assert.equal((await nodes.b.request('DELETE', `/api/v1/users/${user.body.id}/lockout`, undefined, admin)).status, 204);
      assert.equal((await signIn('a', 'shared@nodes.test', PASSWORD)).status, 200, 'unlocked on node b, signs in on node a');
    });

    it('two nodes hammering one account concurrently lose no count: exactly the threshold gets through', async () => {
      const user = await nodes.b.request('POST', '/api/v1/users', { email: 'hammered@nodes.test', password: PASSWORD }, admin);
      assert.equal(user.status, 201);
      // A lock long enough to outlast the burst: with the default first delay (1 s), a guess that reaches a
      // loaded machine's database a second after the fifth would rightly count as the sixth.
      const system = `/api/v1/tenants/${decodeJwt(admin).org_id}/policies`;
      const longer = await nodes.a.request('PATCH', system, { lockout: { account_initial_delay_seconds: 600 } }, admin);
      assert.equal(longer.status, 200, JSON.stringify(longer.body));
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, i) => signIn(i % 2 === 0 ? 'a' : 'b', 'hammered@nodes.test', `guess-number-${i}`)),
      ).finally(() => nodes.a.request('PATCH', system, { lockout: { account_initial_delay_seconds: 1 } }, admin));
      const statuses = answers.map((answer) => answer.status).sort();
      assert.equal(statuses.filter((status) => status === 401).length, 5, statuses.join(' '));
      assert.equal(statuses.filter((status) => status === 429).length, 19);
      const state = await nodes.a.request('GET', `/api/v1/users/${user.body.id}/lockout`, undefined, admin);
      assert.equal(state.body.attempts[0].failures, 5);
    });
  });
}
