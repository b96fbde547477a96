import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combinePermissions, explainPermissions, roleNames } from '../../../src/directory/permissions/effective.js';

/** Where each effective permission comes from (decision 364): direct roles, groups (named once each), direct grants. */
describe('explainPermissions: provenance of effective permissions', () => {
  const grants = {
    roles: [
      { name: 'editor', permissions: ['read:docs', 'write:docs'] },
      { name: 'editor', permissions: ['read:docs', 'write:docs'], group: 'Sales' },
      { name: 'viewer', permissions: ['read:docs'], group: 'Sales' },
      { name: 'viewer', permissions: ['read:docs'], group: 'Marketing' },
      { name: 'auditor', permissions: ['tenant.audit.read'], group: 'Audit' },
    ],
    direct: ['read:docs', 'export:docs'],
  };

  it('names each directly assigned role, each group once (whatever number of its roles give it), then direct', () => {
    assert.deepEqual(explainPermissions(grants), [
      { permission: 'export:docs', from: ['direct'] },
      { permission: 'read:docs', from: ['role:editor', 'group:Marketing', 'group:Sales', 'direct'] },
      { permission: 'tenant.audit.read', from: ['group:Audit'] },
      { permission: 'write:docs', from: ['role:editor', 'group:Sales'] },
    ]);
  });

  it('lists exactly the permissions of the union, and each role name once', () => {
    assert.deepEqual(
      explainPermissions(grants).map((p) => p.permission),
      combinePermissions(grants.roles, grants.direct),
    );
    assert.deepEqual(roleNames(grants.roles), ['auditor', 'editor', 'viewer']);
  });
});
