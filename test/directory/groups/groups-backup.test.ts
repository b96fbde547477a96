import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { backupStream } from '../../../src/ops/backup/backup.js';
import { restoreBackup } from '../../../src/ops/backup/restore.js';
import { SYSTEM_ACTOR } from '../../../src/platform/audit/record.js';
import { systemClock, uuidv7 } from '../../../src/platform/ids.js';
import { bytes, collect, node, PASSPHRASE, testConfig } from '../../helpers/backup.js';
import { freshDatabase } from '../../helpers/database.js';
import { PASSWORD, startGatehouse, type TenantAdmin, type TestGatehouse } from '../../helpers/gatehouse.js';

/** Groups, their members and their roles survive a backup and its restore (decision 368). */
describe('groups in a backup', () => {
  let gh: TestGatehouse;
  let a: TenantAdmin;
  let groupId: string;
  let userId: string;

  before(async () => {
    gh = await startGatehouse();
    a = await gh.tenantWithAdmin('groups-backup');
    const role = await gh.created('/api/v1/roles', a.token, { name: 'editor', permissions: ['tenant.account.read'] });
    groupId = (await gh.created(`/api/v1/tenants/${a.tenantId}/groups`, a.token, { name: 'Editors', roles: [role.id] })).id;
    userId = await gh.createUser(a.token, { email: 'kept@groups-backup.test', password: PASSWORD });
    const added = await gh.request('POST', `/api/v1/tenants/${a.tenantId}/groups/${groupId}/members`, {
      token: a.token,
      body: { users: [userId] },
    });
    assert.equal(added.status, 204);
  });
  after(() => gh.stop());

  it('restores the group, its members and its roles: the member holds the group’s role in the restored deployment', async () => {
    const file = await collect(backupStream(gh.ctx, PASSPHRASE, { actor: SYSTEM_ACTOR }));
    const { db, drop } = await freshDatabase();
    const config = testConfig({ masterKey: gh.ctx.masterKey });
    await restoreBackup(bytes(file), PASSPHRASE, { db, config, clock: systemClock, ids: uuidv7 }, { actor: SYSTEM_ACTOR });
    const restored = await node(config, db);
    try {
      const session = await restored.signIn('kept@groups-backup.test', PASSWORD);
      const answer = await restored.request('POST', '/api/v1/token', { token: session.token!, body: { organization: a.tenantId } });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(decodeJwt(answer.body.token).roles, ['USER', 'editor']);
      const admin = await restored.adminToken();
      const group = await restored.request('GET', `/api/v1/tenants/${a.tenantId}/groups/${groupId}`, { token: admin });
      assert.equal(group.status, 200);
      assert.equal(group.body.name, 'Editors');
      assert.deepEqual(
        group.body.roles.map((r: { name: string }) => r.name),
        ['editor'],
      );
      const members = await restored.request('GET', `/api/v1/tenants/${a.tenantId}/groups/${groupId}/members`, { token: admin });
      assert.deepEqual(
        members.body.members.map((m: { user_id: string }) => m.user_id),
        [userId],
      );
    } finally {
      await restored.app.close();
      await restored.ctx.passwords.close();
      await drop();
    }
  });
});
