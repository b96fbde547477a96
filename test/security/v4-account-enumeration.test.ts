/**
 * Issue 12, item 11, the administrators' part (ASVS V4, access control), written as the
 * probe: tenant B's administrator tells whether an address has an account elsewhere in the
 * deployment from POST /users (409 email_taken), from GET /users?email= after an invitation
 * (a pending user for a new address only), or from an import line (not_home_tenant). Every
 * answer is now the same for a taken and a fresh address, and the owner of a taken one is
 * emailed an invitation (decisions 185 and 186).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../helpers/gatehouse.js';
import { importBody, jsonl } from '../helpers/transfer.js';

describe('V4: a tenant administrator cannot tell whether an address has an account elsewhere (issue 12, item 11)', () => {
  let gh: TestGatehouse;
  let admin: string;
  let a: TenantAdmin;
  let b: TenantAdmin;

  before(async () => {
    gh = await startGatehouse();
    admin = await gh.adminToken();
    a = await gh.tenantWithAdmin('alpha');
    b = await gh.tenantWithAdmin('beta');
  });
  after(() => gh.stop());

  /** An account homed in A that B's administrator probes for. */
  async function owner(local: string): Promise<string> {
    const email = `${local}@alpha.test`;
    await gh.createUser(a.token, { email, password: PASSWORD, name: 'Owner' });
    return email;
  }
  const mailsTo = async (to: string) =>
    (await gh.request('GET', `/api/v1/dev/outbox?to=${encodeURIComponent(to)}`, { token: admin })).body.messages as {
      subject: string;
      text: string;
    }[];
  /** A body with what differs between any two answers (ids, addresses, times) blanked. */
  const blank = (body: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(body).map(([key, value]) => [
        key,
        ['id', 'email', 'created_at', 'updated_at', 'expires_at'].includes(key) ? '' : value,
      ]),
    );
  const accounts = (email: string) => gh.ctx.db.selectFrom('users').selectAll().where('email', '=', email).execute();

  it('POST /users answers a taken address as a fresh one (201, same body) and emails its owner an invitation instead', async () => {
    const taken = await owner('taken1');
    const fresh = 'fresh1@example.test';
    for (const extra of [{ password: PASSWORD, name: 'Probe' }, { invite: true }]) {
      const takenEmail = extra.password ? taken : await owner('taken1b');
      const freshEmail = extra.password ? fresh : 'fresh1b@example.test';
      const t = await gh.request('POST', '/api/v1/users', { token: b.token, body: { email: takenEmail, ...extra } });
      const f = await gh.request('POST', '/api/v1/users', { token: b.token, body: { email: freshEmail, ...extra } });
      assert.equal(t.status, 201, JSON.stringify(t.body));
      assert.equal(f.status, 201, JSON.stringify(f.body));
      assert.deepEqual(Object.keys(t.body).sort(), Object.keys(f.body).sort());
      assert.deepEqual(blank(t.body), blank(f.body));
      assert.equal(t.body.email, takenEmail);
      // The owner's account is untouched, and no second account was made.
      const [account, ...more] = await accounts(takenEmail);
      assert.equal(more.length, 0);
      assert.equal(account!.name, 'Owner');
      assert.equal(account!.home_tenant_id, a.tenantId);
      assert.equal((await gh.request('POST', '/api/v1/session', { body: { username: takenEmail, password: PASSWORD } })).status, 200);
      // The owner is asked to join B; they decide.
      const [mail] = await mailsTo(takenEmail);
      assert.ok(mail, 'the owner of the taken address is emailed');
      assert.match(mail.text, /BETA/);
      assert.match(mail.text, /\/invitation\?token=/);
    }
    // An address of B's own member is B's to know: still 409.
    const own = await gh.request('POST', '/api/v1/users', { token: b.token, body: { email: fresh, password: PASSWORD } });
    assert.equal(own.status, 409);
    assert.equal(own.body.error, 'email_taken');
  });

  it('an invitation leaves nothing in GET /users?email= or the members, for a taken and a fresh address alike', async () => {
    const taken = await owner('taken2');
    const fresh = 'fresh2@example.test';
    const t = await gh.request('POST', `/api/v1/tenants/${b.tenantId}/invitations`, { token: b.token, body: { email: taken } });
    const f = await gh.request('POST', `/api/v1/tenants/${b.tenantId}/invitations`, { token: b.token, body: { email: fresh } });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    assert.equal(f.status, 201, JSON.stringify(f.body));
    assert.deepEqual(blank(t.body), blank(f.body));
    for (const email of [taken, fresh]) {
      const listed = await gh.request('GET', `/api/v1/users?email=${encodeURIComponent(email)}`, { token: b.token });
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.users, [], email);
      assert.ok(!(await gh.members(b.token, b.tenantId)).some((m) => m.email === email), email);
    }
    // B's audit trail records the two invitations alike.
    const events = async (flowId: string) =>
      (await gh.auditEvents(b.token, { limit: '200' }))
        .filter((e) => JSON.stringify(e.details).includes(flowId))
        .map((e) => [e.action, e.target_type, Object.keys(e.details).sort()]);
    assert.deepEqual(await events(t.body.id), await events(f.body.id));
    assert.equal((await events(f.body.id)).length, 1);
    assert.equal((await mailsTo(taken)).length, 1);
    assert.equal((await mailsTo(fresh)).length, 1);
    // The fresh address gets its account only when its owner accepts.
    assert.deepEqual(await accounts(fresh), []);
  });

  it('an import answers a line with a taken address as one with a fresh address, and emails the owner', async () => {
    const taken = await owner('taken3');
    const fresh = 'fresh3@example.test';
    const answer = await importBody(gh, b.token, jsonl({ email: taken, name: 'Imported' }, { email: fresh, name: 'Imported' }));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.created, 2);
    assert.equal(answer.body.updated, 0);
    assert.equal(answer.body.failed, 0);
    assert.deepEqual(answer.body.errors, []);
    const [account] = await accounts(taken);
    assert.equal(account!.name, 'Owner');
    assert.equal(account!.home_tenant_id, a.tenantId);
    const [mail] = await mailsTo(taken);
    assert.ok(mail, 'the owner of the taken address is emailed');
    assert.match(mail.text, /BETA/);
  });
  // Review of issue 12 (decisions 188, 189): PATCH /users/:id and a user's own email change answer a taken address as a fresh one.
  it('PATCH /users/:id with a taken address answers as with a fresh one (202, same body), changes nothing yet, and mails the owner instead', async () => {
    const taken = await owner('taken-patch');
    const one = await gh.createUser(b.token, { email: 'one@beta.test', password: PASSWORD });
    const two = await gh.createUser(b.token, { email: 'two@beta.test', password: PASSWORD });
    const t = await gh.request('PATCH', `/api/v1/users/${one}`, { token: b.token, body: { email: taken } });
    const f = await gh.request('PATCH', `/api/v1/users/${two}`, { token: b.token, body: { email: 'fresh-patch@example.test' } });
    assert.equal(t.status, 202, JSON.stringify(t.body));
    assert.equal(f.status, 202, JSON.stringify(f.body));
    assert.deepEqual(blank(t.body), blank(f.body));
    assert.equal(t.body.email, 'one@beta.test', 'nothing changes until the new address confirms');
    assert.equal((await accounts(taken)).length, 1);
    const [notice] = await mailsTo(taken);
    assert.ok(notice, 'the owner of the taken address is told');
    assert.doesNotMatch(notice.text, /token=/, 'and gets no link that would move the address');
    const [confirm] = await mailsTo('fresh-patch@example.test');
    const token = new URL(/https?:\/\/\S+token=\S+/.exec(confirm!.text)![0]).searchParams.get('token');
    const confirmed = await gh.request('POST', '/api/v1/flows/email_change/link', { body: { token } });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal((await accounts('fresh-patch@example.test'))[0]?.id, two, 'a fresh address is taken once it confirms');
    // B's own member's address is B's to know: still 409.
    const own = await gh.request('PATCH', `/api/v1/users/${one}`, { token: b.token, body: { email: b.adminEmail } });
    assert.equal(own.status, 409);
    assert.equal(own.body.error, 'email_taken');
  });

  it('a signed-in user’s own email change answers a taken address as a fresh one, and mails its owner instead', async () => {
    const taken = await owner('taken-self');
    await gh.createUser(b.token, { email: 'prober@beta.test', password: PASSWORD });
    const session = await gh.signIn('prober@beta.test', PASSWORD);
    const t = await gh.request('POST', '/api/v1/users/me/email', { token: session, body: { email: taken, password: PASSWORD } });
    const f = await gh.request('POST', '/api/v1/users/me/email', {
      token: session,
      body: { email: 'fresh-self@example.test', password: PASSWORD },
    });
    assert.equal(t.status, 202, JSON.stringify(t.body));
    assert.equal(f.status, 202, JSON.stringify(f.body));
    assert.deepEqual(Object.keys(t.body.flow).sort(), Object.keys(f.body.flow).sort());
    assert.deepEqual(blank(t.body.flow), blank(f.body.flow));
    const wrong = await gh.request('POST', `/api/v1/flows/email_change/${t.body.flow.id}`, { token: session, body: { code: '000000' } });
    assert.equal(wrong.body.error, 'flow_state', 'the later request cancelled the earlier one, whatever its address');
    const [notice] = await mailsTo(taken);
    assert.ok(notice, 'the owner of the taken address is told');
    assert.doesNotMatch(notice.text, /token=/);
    assert.equal((await accounts(taken))[0]?.name, 'Owner');
  });
});
