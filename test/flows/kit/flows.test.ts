import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { brandedEmail } from '../../../src/directory/branding/email.js';
import { INVITATION } from '../../../src/flows/invitation/flow.js';
import { createFlow, peekLink, pruneFlows, readFlow, spendCode, spendLink } from '../../../src/flows/kit/flows.js';
import { translator } from '../../../src/flows/kit/messages.js';
import { PASSWORDLESS } from '../../../src/flows/passwordless/flow.js';
import { RECOVERY } from '../../../src/flows/recovery/flow.js';
import { VERIFICATION } from '../../../src/flows/signup/flow.js';
import { pickLocale } from '../../../src/platform/i18n/index.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { TestClock } from '../../helpers/lockout-suite.js';

const actor = { type: 'anonymous' as const, id: null, ip: '198.51.100.7', userAgent: 'test' };

describe('self-service flows (the foundation of issue 5)', () => {
  let gh: TestGatehouse;
  const clock = new TestClock();
  before(async () => {
    gh = await startGatehouse({ clock });
  });
  after(() => gh.stop());

  test('a link works once, and only its hash is stored', async () => {
    const { flow, link } = await createFlow(gh.ctx.db, gh.ctx, RECOVERY, { state: 'sent', channel: 'api', link: true });
    assert.ok(link?.startsWith('ghf_'));
    const row = await gh.ctx.db.selectFrom('flows').selectAll().where('id', '=', flow.id).executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(row).includes(link as string), 'the token is not stored');
    assert.equal((await peekLink(gh.ctx.db, gh.ctx, RECOVERY, link as string)).id, flow.id, 'peeking does not spend');
    const spent = await spendLink(gh.ctx.db, gh.ctx, RECOVERY, link as string, 'done');
    assert.equal(spent.state, 'done');
    await assert.rejects(spendLink(gh.ctx.db, gh.ctx, RECOVERY, link as string, 'done'), { code: 'link_invalid' });
    await assert.rejects(spendLink(gh.ctx.db, gh.ctx, RECOVERY, 'ghf_forged', 'done'), { code: 'link_invalid' });
  });

  test('a link of another kind, or past its expiry, does not work', async () => {
    const { link } = await createFlow(gh.ctx.db, gh.ctx, INVITATION, {
      state: 'sent',
      channel: 'api',
      data: { mode: 'activate' },
      link: true,
    });
    await assert.rejects(spendLink(gh.ctx.db, gh.ctx, RECOVERY, link as string, 'done'), { code: 'link_invalid' });
    const expiring = await createFlow(gh.ctx.db, gh.ctx, RECOVERY, { state: 'sent', channel: 'api', link: true });
    clock.advance(15 * 60 + 1);
    await assert.rejects(spendLink(gh.ctx.db, gh.ctx, RECOVERY, expiring.link as string, 'done'), { code: 'link_expired' });
    await assert.rejects(readFlow(gh.ctx.db, gh.ctx, RECOVERY, expiring.flow.id), { code: 'flow_expired' });
  });

  test('a code works once; five wrong codes kill it', async () => {
    const { flow, code } = await createFlow(gh.ctx.db, gh.ctx, VERIFICATION, {
      state: 'sent',
      channel: 'api',
      email: 'codes@flows.test',
      code: true,
    });
    assert.match(code as string, /^\d{6}$/);
    const wrong = code === '000000' ? '111111' : '000000';
    await assert.rejects(spendCode(gh.ctx.db, gh.ctx, flow, wrong, actor, 'done'), { code: 'invalid_code' });
    assert.equal((await spendCode(gh.ctx.db, gh.ctx, flow, code as string, actor, 'done')).state, 'done');
    await assert.rejects(spendCode(gh.ctx.db, gh.ctx, flow, code as string, actor, 'done'), { code: 'invalid_code' });

    const other = await createFlow(gh.ctx.db, gh.ctx, VERIFICATION, { state: 'sent', channel: 'api', code: true });
    const bad = other.code === '000000' ? '111111' : '000000';
    for (let i = 0; i < 5; i++) {
      await assert.rejects(spendCode(gh.ctx.db, gh.ctx, other.flow, bad, { ...actor, ip: `198.51.100.${20 + i}` }, 'done'));
    }
    // The guard refuses at once (its backoff), and once that has passed the flow itself does.
    await assert.rejects(spendCode(gh.ctx.db, gh.ctx, other.flow, other.code as string, { ...actor, ip: '198.51.100.40' }, 'done'), {
      code: 'too_many_attempts',
    });
    clock.advance(60);
    await assert.rejects(spendCode(gh.ctx.db, gh.ctx, other.flow, other.code as string, { ...actor, ip: '198.51.100.41' }, 'done'), {
      code: 'invalid_code',
    });
  });

  test('expired flows are pruned a day later', async () => {
    const { flow } = await createFlow(gh.ctx.db, gh.ctx, PASSWORDLESS, {
      state: 'sent',
      channel: 'api',
      data: { method: 'email_code', send_key: 'prune' },
    });
    clock.advance(10 * 60 + 24 * 3600 + 1);
    assert.ok((await pruneFlows(gh.ctx)) >= 1);
    assert.equal(await gh.ctx.db.selectFrom('flows').select('id').where('id', '=', flow.id).executeTakeFirst(), undefined);
  });

  test('emails have a text and an HTML part in the tenant branding and the language asked for', async () => {
    const message = await brandedEmail(
      gh.ctx.db,
      gh.ctx,
      {
        to: 'x@flows.test',
        locale: 'de',
        subject: 'common.something_went_wrong',
        paragraphs: [{ key: 'common.link_expired' }],
        action: { label: 'common.continue', url: 'http://gatehouse.test/x?<script>' },
        code: '123456',
      },
      translator,
    );
    assert.match(message.text, /Hallo,/);
    assert.match(message.text, /123456/);
    assert.match(message.html ?? '', /<html lang="de">/);
    assert.match(message.html ?? '', /Gatehouse/);
    assert.ok(!(message.html ?? '').includes('<script>'), 'values are escaped in the HTML part');
  });
});

test('the locale comes from ui_locales, then the user, then Accept-Language', () => {
  assert.equal(pickLocale({ uiLocales: 'fr de-CH', userLocale: 'en', acceptLanguage: 'en' }), 'de');
  assert.equal(pickLocale({ uiLocales: 'fr', userLocale: 'de', acceptLanguage: 'en' }), 'de');
  assert.equal(pickLocale({ acceptLanguage: 'fr;q=1, en;q=0.5, de;q=0.8' }), 'de');
  assert.equal(pickLocale({ acceptLanguage: 'de;q=0' }), 'en');
  assert.equal(pickLocale({}), 'en');
});
