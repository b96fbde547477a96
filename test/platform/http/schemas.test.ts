import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { schemaCompilation } from '../../../src/platform/http/validation.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

/**
 * Validators and response serializers are compiled on a route's first request (decision
 * 331), so a broken schema would first fail in production. Here every one of every route
 * is compiled at start, the way it used to be: the server only starts when all of them compile.
 */
describe('route schemas: every validator and serializer compiles', () => {
  let gh: TestGatehouse;

  before(async () => {
    schemaCompilation.eager = true;
    try {
      gh = await startGatehouse();
      await gh.app.ready();
    } finally {
      schemaCompilation.eager = false;
    }
  });
  after(() => gh.stop());

  it('starts with every schema compiled, and validates and serializes as before', async () => {
    const refused = await gh.request('POST', '/api/v1/session', { body: { username: 'x', password: 'y', unexpected: 1 } });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'unknown_field');
    const ready = await gh.request('GET', '/readyz');
    assert.equal(ready.status, 200);
  });
});
