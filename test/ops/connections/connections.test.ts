/**
 * Issue 14 part 1: the connections admin API. Create, read, list, change and delete a
 * connection in Auth0's shape; every refusal of bad input is a 4xx with its own code; the
 * secret options are sealed at rest and absent from every answer, the audit trail and the logs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { connectionById, connectionByName } from '../../../src/authn/federation/connections.js';
import { acme, admin, expectError, gh, twoTenantsServer } from '../../helpers/two-tenants.js';

const SECRET = 'oidc-client-secret-7f3a9c1e5b';
const SECRET_2 = 'rotated-client-secret-0d4e8b2a6c';

const oidc = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  strategy: 'oidc',
  options: { issuer: 'https://idp.example.com', client_id: 'gatehouse', client_secret: SECRET, scope: 'openid email' },
  ...extra,
});

/** Every row of a table as text, read straight from the database. */
async function tableText(table: string): Promise<string> {
  const { rows } = await sql<{ row: string }>`select t::text as row from ${sql.table(table)} t`.execute(gh.ctx.db);
  return rows.map((r) => r.row).join('\n');
}

describe('connections API', () => {
  twoTenantsServer();

  it('creates, reads, lists, patches and deletes a tenant connection in Auth0’s shape, each change audited', async () => {
    const app = await gh.created('/api/v1/applications', acme.token, {
      name: 'Portal',
      type: 'spa',
      redirect_uris: ['https://portal.acme.test/cb'],
    });
    const role = await gh.created('/api/v1/roles', acme.token, { name: 'engineer', permissions: ['tenant.profile.read'] });
    const created = await gh.created(
      '/api/v1/connections',
      acme.token,
      oidc('acme-sso', {
        display_name: 'Acme SSO',
        enabled_clients: [app.client_id],
        domains: ['Acme.test', 'acme.test'],
        mapping: [{ claim: 'groups', value: 'eng', roles: ['engineer'] }],
        attributes: { given_name: 'given_name' },
        sync_mode: 'on_first_login',
        trusted_email: true,
        upstream_mfa: true,
      }),
    );
    assert.match(created.id, /^con_[0-9a-f]{32}$/);
    assert.deepEqual(
      { ...created, id: undefined, created_at: undefined, updated_at: undefined },
      {
        id: undefined,
        name: 'acme-sso',
        strategy: 'oidc',
        display_name: 'Acme SSO',
        tenant: acme.tenantId,
        options: { issuer: 'https://idp.example.com', client_id: 'gatehouse', scope: 'openid email' },
        enabled_clients: [app.client_id],
        domains: ['acme.test'],
        mapping: [{ claim: 'groups', value: 'eng', roles: ['engineer'], groups: [] }],
        attributes: { given_name: 'given_name' },
        sync_mode: 'on_first_login',
        trusted_email: true,
        upstream_mfa: true,
        created_at: undefined,
        updated_at: undefined,
      },
    );
    assert.ok(role.id);

    const read = await gh.request('GET', `/api/v1/connections/${created.id}`, { token: acme.token });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, created);

    const listed = await gh.request('GET', '/api/v1/connections', { token: acme.token });
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.connections.map((c: { id: string }) => c.id),
      [created.id],
    );
    assert.equal(listed.body.next_cursor, null);

    const patched = await gh.request('PATCH', `/api/v1/connections/${created.id}`, {
      token: acme.token,
      body: { display_name: 'Acme Login', options: { scope: 'openid email profile' }, domains: [] },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.display_name, 'Acme Login');
    assert.deepEqual(patched.body.options, { issuer: 'https://idp.example.com', client_id: 'gatehouse', scope: 'openid email profile' });
    assert.deepEqual(patched.body.domains, []);
    const kept = await connectionById(gh.ctx, created.id);
    assert.equal(kept?.secrets.client_secret, SECRET, 'a secret omitted from a change is kept');

    assert.equal((await gh.request('DELETE', `/api/v1/connections/${created.id}`, { token: acme.token })).status, 204);
    assert.equal((await gh.request('GET', `/api/v1/connections/${created.id}`, { token: acme.token })).status, 404);
    const events = await gh.auditEvents(acme.token, { target: created.id });
    assert.deepEqual(events.map((e) => e.action).sort(), ['iam.connection.created', 'iam.connection.deleted', 'iam.connection.modified']);
    const modified = events.find((e) => e.action === 'iam.connection.modified')!;
    assert.deepEqual(modified.details.fields, ['display_name', 'domains', 'options']);
    assert.deepEqual(modified.details.options, ['scope']);
    assert.equal(modified.tenant_id, acme.tenantId);
  });

  it('keeps the secret options sealed: absent from every answer, the audit trail, the bus and the logs; a secret given again replaces the old one', async () => {
    const created = await gh.created('/api/v1/connections', acme.token, oidc('sealed-sso'));
    const answers = [created];
    answers.push((await gh.request('GET', `/api/v1/connections/${created.id}`, { token: acme.token })).body);
    answers.push((await gh.request('GET', '/api/v1/connections', { token: acme.token })).body);
    answers.push((await gh.request('GET', '/api/v1/connections', { token: admin })).body);
    const patched = await gh.request('PATCH', `/api/v1/connections/${created.id}`, {
      token: acme.token,
      body: { options: { client_secret: SECRET_2 } },
    });
    assert.equal(patched.status, 200);
    answers.push(patched.body);
    for (const answer of answers) {
      const text = JSON.stringify(answer);
      assert.ok(!text.includes(SECRET) && !text.includes(SECRET_2), `no secret in ${text}`);
      assert.ok(!text.includes('client_secret'), 'not even the key: the option is absent, not masked');
    }
    assert.equal((await connectionById(gh.ctx, created.id))?.secrets.client_secret, SECRET_2, 'the new secret replaced the old one');

    const row = await gh.ctx.db
      .selectFrom('connections')
      .select(['options', 'secrets_sealed'])
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow();
    assert.ok(row.secrets_sealed, 'the secrets are sealed in their own column');
    assert.ok(!row.secrets_sealed.includes(SECRET_2) && !row.secrets_sealed.includes(SECRET));
    assert.ok(!Buffer.from(row.secrets_sealed, 'base64').toString('latin1').includes(SECRET_2), 'not readable after decoding either');
    assert.equal((row.options as Record<string, unknown>).client_secret, undefined);
    const everything = [
      await tableText('connections'),
      await tableText('audit_events'),
      await tableText('event_outbox'),
      gh.logs.join('\n'),
    ];
    for (const text of everything) assert.ok(!text.includes(SECRET) && !text.includes(SECRET_2));
    const [modified] = await gh.auditEvents(acme.token, { target: created.id, action: 'iam.connection.modified' });
    assert.deepEqual(modified?.details.options, ['client_secret'], 'the audit names the secret option, never its value');
  });

  it('seals a secret option given under a strategy that does not use it, rather than answering it', async () => {
    const stray = 'stray-client-secret-91be4d';
    const created = await gh.created('/api/v1/connections', acme.token, {
      name: 'saml-with-stray-secret',
      strategy: 'samlp',
      options: { metadataUrl: 'https://idp.example.com/metadata', client_secret: stray },
    });
    assert.deepEqual(created.options, { metadataUrl: 'https://idp.example.com/metadata' });
    assert.ok(!(await tableText('connections')).includes(stray));
    assert.equal((await connectionById(gh.ctx, created.id))?.secrets.client_secret, stray);
  });

  it('a secret cannot be moved to another connection: the sealed value is bound to its id', async () => {
    const one = await gh.created('/api/v1/connections', acme.token, oidc('bound-one'));
    const two = await gh.created(
      '/api/v1/connections',
      acme.token,
      oidc('bound-two', { options: { issuer: 'https://idp.example.com', client_id: 'x', client_secret: 'other-secret-value' } }),
    );
    const { secrets_sealed } = await gh.ctx.db
      .selectFrom('connections')
      .select('secrets_sealed')
      .where('id', '=', one.id)
      .executeTakeFirstOrThrow();
    await gh.ctx.db.updateTable('connections').set({ secrets_sealed }).where('id', '=', two.id).execute();
    await assert.rejects(() => connectionById(gh.ctx, two.id));
    assert.equal((await connectionByName(gh.ctx, 'BOUND-ONE'))?.secrets.client_secret, SECRET);
  });

  it('refuses bad input, each with a 4xx and a stable code', async () => {
    const post = (body: unknown) => gh.request('POST', '/api/v1/connections', { token: acme.token, body });
    await expectError(post(oidc('-leading-hyphen')), 400, 'invalid_connection_name');
    await expectError(post(oidc('under_score')), 400, 'invalid_connection_name');
    await expectError(post(oidc('a'.repeat(129))), 400, 'invalid_field');
    await expectError(post(oidc('username-password-authentication')), 400, 'reserved_connection_name');
    await expectError(post({ ...oidc('bad-strategy'), strategy: 'kerberos' }), 400, 'invalid_field');
    await expectError(post({ ...oidc('no-issuer'), options: { client_id: 'x' } }), 400, 'missing_option');
    const missing = await expectError(post({ name: 'no-secret', strategy: 'github', options: { client_id: 'x' } }), 400, 'missing_option');
    assert.equal(missing.details.option, 'client_secret');
    await expectError(post({ name: 'ad-no-base', strategy: 'ad', options: { url: 'ldaps://ldap.acme.test' } }), 400, 'missing_option');
    await expectError(post({ ...oidc('bad-url'), options: { issuer: 'not a url', client_id: 'x' } }), 400, 'invalid_option');
    await expectError(post({ ...oidc('ftp-url'), options: { issuer: 'ftp://idp.example.com', client_id: 'x' } }), 400, 'invalid_option');
    await expectError(
      post({ ...oidc('userinfo-url'), options: { issuer: 'https://u:p@idp.example.com', client_id: 'x' } }),
      400,
      'invalid_option',
    );
    await expectError(
      post({ name: 'ad-http', strategy: 'ad', options: { url: 'https://ldap.acme.test', base_dn: 'dc=acme' } }),
      400,
      'invalid_option',
    );
    await expectError(
      post({ ...oidc('secret-number'), options: { issuer: 'https://idp.example.com', client_id: 'x', client_secret: 42 } }),
      400,
      'invalid_option',
    );
    await expectError(post(oidc('bad-domain', { domains: ['not a domain'] })), 400, 'invalid_domain');
    await expectError(post(oidc('dotless-domain', { domains: ['localhost'] })), 400, 'invalid_domain');
    await expectError(post(oidc('bad-client', { enabled_clients: ['no-such-client'] })), 400, 'unknown_client');
    await expectError(post(oidc('bad-role', { mapping: [{ claim: 'groups', value: 'x', roles: ['no-such-role'] }] })), 400, 'unknown_role');
    await expectError(post(oidc('empty-claim', { mapping: [{ claim: '', value: 'x', roles: ['USER'] }] })), 400, 'invalid_field');
    await expectError(post(oidc('email-attr', { attributes: { email: 'email' } })), 400, 'invalid_field');
    await expectError(post(oidc('bad-sync', { sync_mode: 'sometimes' })), 400, 'invalid_field');
    await expectError(post({ ...oidc('extra-field'), secret: 'x' }), 400, 'unknown_field');
    await gh.created('/api/v1/connections', acme.token, oidc('Taken-Name'));
    await expectError(post(oidc('taken-name')), 409, 'connection_exists');

    const id = (await gh.created('/api/v1/connections', acme.token, oidc('patch-me'))).id;
    const patch = (body: unknown) => gh.request('PATCH', `/api/v1/connections/${id}`, { token: acme.token, body });
    await expectError(patch({ name: 'renamed' }), 400, 'unknown_field');
    await expectError(patch({ strategy: 'oauth2' }), 400, 'unknown_field');
    await expectError(patch({ options: { issuer: null } }), 400, 'missing_option');
    await expectError(patch({ options: { discovery_url: 'nope' } }), 400, 'invalid_option');
    await expectError(patch({ enabled_clients: ['no-such-client'] }), 400, 'unknown_client');
    const unknown = await gh.request('GET', '/api/v1/connections/con_00000000000000000000000000000000', { token: acme.token });
    assert.equal(unknown.status, 404);
    assert.equal((await gh.request('GET', '/api/v1/connections/not-an-id', { token: acme.token })).status, 400);
    const still = await connectionById(gh.ctx, id);
    assert.equal(still?.options.issuer, 'https://idp.example.com', 'a refused change changed nothing');
  });

  it('a tenant administrator maps only roles it could grant itself', async () => {
    await expectError(
      gh.request('POST', '/api/v1/connections', {
        token: acme.token,
        body: oidc('map-admin', { mapping: [{ claim: 'groups', value: 'x', roles: ['ADMIN'] }] }),
      }),
      403,
      'restricted_permission',
    );
    const ok = await gh.created(
      '/api/v1/connections',
      acme.token,
      oidc('map-user', { mapping: [{ claim: 'groups', value: 'x', roles: ['USER'] }] }),
    );
    assert.deepEqual(ok.mapping[0].roles, ['USER']);
  });

  it('in production, URLs are https and reach no internal address; ad takes ldaps or ldap with starttls', async () => {
    const { startGatehouse } = await import('../../helpers/gatehouse.js');
    const prod = await startGatehouse({ production: true });
    try {
      const token = await prod.adminToken();
      const post = (body: unknown) => prod.request('POST', '/api/v1/connections', { token, body });
      await expectError(
        post({ ...oidc('plain-http'), options: { issuer: 'http://idp.example.com', client_id: 'x' } }),
        400,
        'invalid_option',
      );
      await expectError(
        post({ ...oidc('loopback'), options: { issuer: 'https://127.0.0.1:8443', client_id: 'x' } }),
        400,
        'destination_not_allowed',
      );
      await expectError(
        post({ ...oidc('private'), options: { discovery_url: 'https://10.0.0.8/.well-known/openid-configuration', client_id: 'x' } }),
        400,
        'destination_not_allowed',
      );
      const ad = { strategy: 'ad', options: { base_dn: 'dc=acme,dc=test' } };
      await expectError(post({ ...ad, name: 'ldap-plain', options: { ...ad.options, url: 'ldap://192.0.2.10' } }), 400, 'invalid_option');
      const starttls = await post({ ...ad, name: 'ldap-starttls', options: { ...ad.options, url: 'ldap://192.0.2.10', starttls: true } });
      assert.equal(starttls.status, 201, JSON.stringify(starttls.body));
      const ldaps = await post({ ...ad, name: 'ldaps', options: { ...ad.options, url: 'ldaps://192.0.2.11', bind_password: 'x' } });
      assert.equal(ldaps.status, 201, JSON.stringify(ldaps.body));
    } finally {
      await prod.stop();
    }
  });

  it('lists with the repository’s pagination and the tenant, strategy and name filters', async () => {
    const names = ['page-a', 'page-b', 'page-c'];
    for (const name of names) await gh.created('/api/v1/connections', admin, { ...oidc(name), tenant: acme.tenantId });
    await gh.created('/api/v1/connections', admin, {
      name: 'page-gh',
      strategy: 'github',
      options: { client_id: 'x', client_secret: 'y' },
    });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?tenant=${acme.tenantId}&strategy=oidc&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await gh.request('GET', `/api/v1/connections${query}`, { token: admin });
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.ok(page.body.connections.length <= 2);
      seen.push(...page.body.connections.map((c: { name: string }) => c.name));
      cursor = page.body.next_cursor;
    } while (cursor);
    for (const name of names) assert.ok(seen.includes(name));
    assert.ok(!seen.includes('page-gh'));
    const byName = await gh.request('GET', '/api/v1/connections?name=PAGE-B', { token: admin });
    assert.deepEqual(
      byName.body.connections.map((c: { name: string }) => c.name),
      ['page-b'],
    );
    const github = await gh.request('GET', '/api/v1/connections?strategy=github', { token: admin });
    assert.deepEqual(
      github.body.connections.map((c: { name: string; tenant: string | null }) => [c.name, c.tenant]),
      [['page-gh', null]],
    );
  });

  it('a plain member without tenant.connections.read is refused (403)', async () => {
    const email = 'member@acme.test';
    await gh.createUser(acme.token, { email, password: 'a-long-test-password' });
    const token = await gh.tokenFor(await gh.signIn(email, 'a-long-test-password'), acme.tenantId);
    const refused = await expectError(gh.request('GET', '/api/v1/connections', { token }), 403, 'forbidden');
    assert.equal(refused.details.required, 'tenant.connections.read');
    await expectError(gh.request('POST', '/api/v1/connections', { token, body: oidc('member-made') }), 403, 'forbidden');
  });
});
