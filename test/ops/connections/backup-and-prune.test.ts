/**
 * Issue 14: the federation tables in a backup (connections with their sealed secrets,
 * identities, the SAML replay cache) restore into a Gatehouse that unseals the secrets, and
 * the replay cache's expired rows are swept.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionByName } from '../../../src/authn/federation/connections.js';
import { pruneSamlAssertions } from '../../../src/authn/federation/prune.js';
import { addIdentity, identitiesOfUser } from '../../../src/directory/users/identities.js';
import { backupStream } from '../../../src/ops/backup/backup.js';
import { listTables } from '../../../src/ops/backup/catalog.js';
import { restoreBackup } from '../../../src/ops/backup/restore.js';
import { SYSTEM_ACTOR } from '../../../src/platform/audit/record.js';
import { systemClock, uuidv7 } from '../../../src/platform/ids.js';
import { assertSameData, bytes, collect, node, PASSPHRASE, tableTexts, testConfig } from '../../helpers/backup.js';
import { freshDatabase } from '../../helpers/database.js';
import { acme, admin, gh, twoTenantsServer } from '../../helpers/two-tenants.js';

const BIND_PASSWORD = 'ldap-bind-password-3c9e1f7a';

describe('connections in backups, and the SAML replay cache’s sweep', () => {
  twoTenantsServer();

  it('a backup holds connections, identities and SAML assertion ids; the restored secrets unseal with the backup’s key', async () => {
    await gh.created('/api/v1/connections', admin, {
      name: 'corp-ldap',
      strategy: 'ad',
      tenant: acme.tenantId,
      options: { url: 'ldaps://ldap.acme.test', base_dn: 'dc=acme,dc=test', bind_dn: 'cn=gatehouse', bind_password: BIND_PASSWORD },
    });
    const connection = (await connectionByName(gh.ctx, 'corp-ldap'))!;
    await addIdentity(gh.ctx.db, {
      connectionId: connection.id,
      subject: 'uid=pat,dc=acme,dc=test',
      userId: acme.adminId,
      provider: 'ad',
      profileData: { cn: 'Pat' },
      at: new Date(),
    });
    await gh.ctx.db
      .insertInto('saml_assertions')
      .values({ connection_id: connection.id, assertion_id: '_kept', expires_at: new Date(Date.now() + 3_600_000) })
      .execute();

    const names = (await listTables(gh.ctx.db)).map((t) => t.name);
    for (const table of ['connections', 'user_identities', 'saml_assertions']) assert.ok(names.includes(table), `${table} is backed up`);
    assert.ok(names.indexOf('connections') < names.indexOf('user_identities'), 'a connection is restored before its identities');

    const source = await tableTexts(gh.ctx.db);
    const file = await collect(backupStream(gh.ctx, PASSPHRASE, { actor: SYSTEM_ACTOR }));
    const { db, drop } = await freshDatabase();
    const config = testConfig({ masterKey: gh.ctx.masterKey });
    await restoreBackup(bytes(file), PASSPHRASE, { db, config, clock: systemClock, ids: uuidv7 }, { actor: SYSTEM_ACTOR });
    const restored = await node(config, db);
    try {
      assertSameData(await tableTexts(db), source);
      const again = await connectionByName(restored.ctx, 'corp-ldap');
      assert.equal(again?.secrets.bind_password, BIND_PASSWORD);
      assert.equal(again?.tenantId, acme.tenantId);
      assert.deepEqual(
        (await identitiesOfUser(db, acme.adminId)).map((i) => [i.connection, i.subject]),
        [['corp-ldap', 'uid=pat,dc=acme,dc=test']],
      );
    } finally {
      await restored.app.close();
      await restored.ctx.passwords.close();
      await drop();
    }
  });

  it('the sweep removes the SAML assertion ids whose assertions have expired, and keeps the others', async () => {
    const connection = await gh.created('/api/v1/connections', admin, {
      name: 'okta-saml',
      strategy: 'samlp',
      options: { metadataXml: '<EntityDescriptor/>' },
    });
    const now = gh.ctx.clock.now().getTime();
    await gh.ctx.db
      .insertInto('saml_assertions')
      .values([
        { connection_id: connection.id, assertion_id: '_expired', expires_at: new Date(now - 1000) },
        { connection_id: connection.id, assertion_id: '_live', expires_at: new Date(now + 600_000) },
      ])
      .execute();
    assert.ok((await pruneSamlAssertions(gh.ctx)) >= 1);
    const left = await gh.ctx.db.selectFrom('saml_assertions').select('assertion_id').where('connection_id', '=', connection.id).execute();
    assert.deepEqual(
      left.map((r) => r.assertion_id),
      ['_live'],
    );
  });
});
