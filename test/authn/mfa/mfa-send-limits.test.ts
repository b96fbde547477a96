import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OOB_ENROLMENTS_PER_HOUR } from '../../../src/authn/mfa/oob.js';
import type { Clock } from '../../../src/platform/ids.js';
import { PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';

/**
 * Each email or SMS enrolment sends a message to a destination the caller chose; texts
 * cost money. A user starts at most five in an hour (security review of issue 4).
 */
describe('email and SMS enrolments are rate-limited (toll fraud)', () => {
  let gh: TestGatehouse;
  let nowMs = Date.parse('2026-11-28T12:00:00Z');
  const clock: Clock = { now: () => new Date(nowMs) };

  before(async () => {
    gh = await startGatehouse({ clock });
    await gh.createUser(await gh.adminToken(), { email: 'tom@example.test', password: PASSWORD });
  });
  after(() => gh.stop());

  it('refuses the sixth enrolment within an hour with 429 and Retry-After, and allows it an hour later', async () => {
    let session = await gh.signIn('tom@example.test', PASSWORD);
    const enrol = (n: number) =>
      gh.request('POST', '/api/v1/users/me/mfa/sms', { token: session, body: { phone_number: `+1415555010${n}` } });
    for (let n = 0; n < OOB_ENROLMENTS_PER_HOUR; n++) {
      const started = await enrol(n);
      assert.equal(started.status, 201, JSON.stringify(started.body));
    }
    const refused = await enrol(9);
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'too_many_attempts');
    assert.equal(refused.headers['retry-after'], '3600');
    const email = await gh.request('POST', '/api/v1/users/me/mfa/email', { token: session, body: {} });
    assert.equal(email.status, 429, 'email enrolments count too');
    nowMs += 3_600_001;
    session = await gh.signIn('tom@example.test', PASSWORD); // the idle session ended meanwhile
    assert.equal((await enrol(8)).status, 201);
  });
});
