import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Clock } from '../../../src/platform/ids.js';
import { deliverEmails, queueEmail } from '../../../src/platform/mail/mailer.js';
import { startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

describe('email delivery through SMTP', () => {
  let gh: TestGatehouse;
  let smtp: SmtpPeer;
  let nowMs = Date.parse('2026-11-28T10:00:00Z');
  const clock: Clock = { now: () => new Date(nowMs) };

  before(async () => {
    smtp = await startSmtpPeer();
    gh = await startGatehouse({ clock, config: { smtpUrl: smtp.url, smtpFrom: 'Gatehouse <no-reply@gatehouse.test>' } });
  });
  after(async () => {
    await gh.stop();
    await smtp.stop();
  });

  it('sends a message queued in a committed transaction, text and HTML, and stores its body sealed', async () => {
    await gh.ctx.db
      .transaction()
      .execute((trx) =>
        queueEmail(trx, gh.ctx, { to: 'ada@example.com', subject: 'Your code', text: 'Code: 424242', html: '<p>Code: <b>424242</b></p>' }),
      );
    const row = await gh.ctx.db.selectFrom('emails').selectAll().where('recipient', '=', 'ada@example.com').executeTakeFirstOrThrow();
    assert.equal(row.status, 'pending');
    assert.doesNotMatch(row.body_sealed, /424242/, 'the body is not stored readable');

    await deliverEmails(gh.ctx);
    const mail = await smtp.next('ada@example.com');
    assert.equal(mail.subject, 'Your code');
    assert.match(mail.text, /Code: 424242/);
    assert.match(mail.html ?? '', /<b>424242<\/b>/);
    const sent = await gh.ctx.db.selectFrom('emails').select(['status', 'sent_at']).where('id', '=', row.id).executeTakeFirstOrThrow();
    assert.equal(sent.status, 'sent');
    assert.ok(
      gh.logs.every((line) => !line.includes('424242')),
      'the code is never logged',
    );
  });

  it('sends nothing for a transaction that rolled back', async () => {
    await assert.rejects(
      gh.ctx.db.transaction().execute(async (trx) => {
        await queueEmail(trx, gh.ctx, { to: 'rollback@example.com', subject: 'Never', text: 'never' });
        throw new Error('the change failed');
      }),
    );
    assert.equal(
      await gh.ctx.db.selectFrom('emails').select('id').where('recipient', '=', 'rollback@example.com').executeTakeFirst(),
      undefined,
    );
  });

  it('retries with backoff while the SMTP server refuses, and delivers when it is back', async () => {
    smtp.refusing = true;
    await queueEmail(gh.ctx.db, gh.ctx, { to: 'retry@example.com', subject: 'Later', text: 'eventually' });
    assert.equal(await deliverEmails(gh.ctx), 0);
    const first = await gh.ctx.db.selectFrom('emails').selectAll().where('recipient', '=', 'retry@example.com').executeTakeFirstOrThrow();
    assert.equal(first.status, 'pending');
    assert.equal(first.attempts, 1);
    assert.ok(first.last_error, 'the refusal is recorded');
    assert.equal(first.next_attempt_at.getTime() - nowMs, 30_000, 'first retry after 30 s');

    assert.equal(await deliverEmails(gh.ctx), 0, 'not due yet: nothing is tried');
    nowMs += 30_000;
    assert.equal(await deliverEmails(gh.ctx), 0);
    const second = await gh.ctx.db.selectFrom('emails').selectAll().where('id', '=', first.id).executeTakeFirstOrThrow();
    assert.equal(second.next_attempt_at.getTime() - nowMs, 60_000, 'the delay doubles');

    smtp.refusing = false;
    nowMs += 60_000;
    assert.equal(await deliverEmails(gh.ctx), 1);
    assert.match((await smtp.next('retry@example.com')).text, /eventually/);
  });
});

describe('the development outbox (no SMTP configured)', () => {
  let gh: TestGatehouse;
  before(async () => {
    gh = await startGatehouse();
  });
  after(() => gh.stop());

  it('keeps messages for a system administrator to read, and only for one', async () => {
    await queueEmail(gh.ctx.db, gh.ctx, { to: 'dev@example.com', subject: 'Link', text: 'https://example.com/x?t=secret-link' });
    const admin = await gh.adminToken();
    const outbox = await gh.request('GET', '/api/v1/dev/outbox?to=dev%40example.com', { token: admin });
    assert.equal(outbox.status, 200);
    assert.equal(outbox.body.messages.length, 1);
    assert.match(outbox.body.messages[0].text, /secret-link/);
    assert.equal(await deliverEmails(gh.ctx), 0, 'nothing is sent without SMTP');

    const tenant = await gh.tenantWithAdmin('outbox-tenant');
    const refused = await gh.request('GET', '/api/v1/dev/outbox', { token: tenant.token });
    assert.equal(refused.status, 403);
    assert.ok(
      gh.logs.every((line) => !line.includes('secret-link')),
      'the link is never logged',
    );
  });
});
