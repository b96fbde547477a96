import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openSms } from '../../../src/authn/mfa/sms.js';
import { sendEmail } from '../../../src/directory/branding/email.js';
import { translator } from '../../../src/platform/i18n/index.js';
import type { Clock } from '../../../src/platform/ids.js';
import { deliverEmails } from '../../../src/platform/mail/mailer.js';
import { PASSWORD, startGatehouse, type TestGatehouse } from '../../helpers/gatehouse.js';
import { freePort } from '../../helpers/oidc.js';
import { type SmtpPeer, startSmtpPeer } from '../../helpers/smtp.js';

/**
 * Issue 5, part 7 (what test/platform/mail/email.test.ts does not already show): the flows' emails as a
 * real SMTP server receives them (a text and an HTML part, the tenant's branding, the
 * user's language), no code or link in the log, and a message queued while the SMTP server
 * is down arriving after Gatehouse restarts. (A production start without SMTP is refused:
 * test/platform/config/config.test.ts.)
 */
describe('the flows’ emails: both parts, branded, in the user’s language, never logged', () => {
  let gh: TestGatehouse;
  let smtp: SmtpPeer;
  let nowMs = Date.parse('2026-11-28T10:00:00Z');
  const clock: Clock = { now: () => new Date(nowMs) };
  let acme: Awaited<ReturnType<TestGatehouse['tenantWithAdmin']>>;
  /** Hans's session (once he has a second factor, a password alone opens none). */
  let hansSession: string;

  before(async () => {
    smtp = await startSmtpPeer();
    gh = await startGatehouse({ clock, config: { smtpUrl: smtp.url, smtpFrom: 'Gatehouse <no-reply@gatehouse.test>' } });
    acme = await gh.tenantWithAdmin('acme');
    const branded = await gh.request('PATCH', `/api/v1/tenants/${acme.tenantId}`, {
      token: await gh.adminToken(),
      body: { branding: { display_name: 'Acme Mail', primary_color: '#aa3300' } },
    });
    assert.equal(branded.status, 200, JSON.stringify(branded.body));
    await gh.createUser(acme.token, { email: 'hans@acme.test', password: PASSWORD, locale: 'de-DE', name: 'Hans Meier' });
    await gh.createUser(acme.token, { email: 'jane@acme.test', password: PASSWORD });
  });
  after(async () => {
    await gh.stop();
    await smtp.stop();
  });

  const codeIn = (text: string) => /\b(\d{6})\b/.exec(text)?.[1] as string;

  it('the MFA email code: German for a user whose locale is de, text and HTML, the tenant’s name and colour', async () => {
    hansSession = await gh.signIn('hans@acme.test', PASSWORD);
    const session = hansSession;
    const enrolment = await gh.request('POST', '/api/v1/users/me/mfa/email', { token: session });
    assert.equal(enrolment.status, 201, JSON.stringify(enrolment.body));
    await deliverEmails(gh.ctx);
    const mail = await smtp.next('hans@acme.test');
    assert.equal(mail.subject, 'Ihr Bestätigungscode für Acme Mail');
    const code = codeIn(mail.text);
    assert.match(mail.text, /^Hallo,/);
    assert.match(mail.text, /Er läuft in 5 Minuten ab/);
    assert.match(mail.text, /Gesendet von Acme Mail\./);
    const html = mail.html ?? '';
    assert.match(html, /<html lang="de">/);
    assert.match(html, /<strong>Acme Mail<\/strong>/, 'the tenant’s name');
    assert.ok(html.includes(`>${code}</p>`), 'the code in the HTML part');
    assert.match(html, /Hier ist Ihr Bestätigungscode für Acme Mail\./);

    const confirmed = await gh.request('POST', `/api/v1/users/me/mfa/${enrolment.body.id}/confirm`, {
      token: session,
      body: { oob_code: enrolment.body.oob_code, binding_code: code },
    });
    assert.equal(confirmed.status, 200, 'the emailed code is the one that works');
    assert.ok(
      gh.logs.every((line) => !line.includes(code) && !line.includes(enrolment.body.oob_code)),
      'neither the code nor its handle is logged',
    );
  });

  it('English for a user without a locale', async () => {
    const session = await gh.signIn('jane@acme.test', PASSWORD);
    assert.equal((await gh.request('POST', '/api/v1/users/me/mfa/email', { token: session })).status, 201);
    await deliverEmails(gh.ctx);
    const mail = await smtp.next('jane@acme.test');
    assert.equal(mail.subject, 'Your Acme Mail verification code');
    assert.match(mail.text, /It expires in 5 minutes/);
    assert.match(mail.html ?? '', /<html lang="en">/);
  });

  it('a button in the tenant’s colour, and the link in both parts', async () => {
    await gh.ctx.db.transaction().execute((trx) =>
      sendEmail(
        trx,
        gh.ctx,
        {
          to: 'button@acme.test',
          tenantId: acme.tenantId,
          locale: 'de',
          subject: 'mail.blocked_subject',
          paragraphs: [{ key: 'mail.blocked_if_you' }],
          action: { label: 'mail.blocked_action', url: 'https://id.acme.test/unblock?token=ghu_secret-link' },
        },
        translator,
      ),
    );
    await deliverEmails(gh.ctx);
    const mail = await smtp.next('button@acme.test');
    assert.match(mail.text, /Adresse entsperren: https:\/\/id\.acme\.test\/unblock\?token=ghu_secret-link/);
    assert.match(mail.html ?? '', /<a href="https:\/\/id\.acme\.test\/unblock\?token=ghu_secret-link" style="[^"]*background:#aa3300/);
    assert.ok(
      gh.logs.every((line) => !line.includes('ghu_secret-link')),
      'the link is never logged',
    );
  });

  it('the MFA text message in the user’s language', async () => {
    const sms = await gh.request('POST', '/api/v1/users/me/mfa/sms', { token: hansSession, body: { phone_number: '+4915112345678' } });
    assert.equal(sms.status, 201, JSON.stringify(sms.body));
    const rows = await gh.ctx.db.selectFrom('sms_outbox').selectAll().orderBy('created_at', 'desc').execute();
    const body = rows.map((row) => openSms(gh.ctx, row)).find((m) => m.to === '+4915112345678')?.body ?? '';
    assert.match(body, /^\d{6} ist Ihr Bestätigungscode für Acme Mail\. Er läuft in 5 Minuten ab\.$/);
    assert.ok(gh.logs.every((line) => !line.includes(codeIn(body))));
  });

  it('the blocked-address email and its unblock page in the user’s language; the link is not logged', async () => {
    const attacker = '203.0.113.77';
    for (let i = 1; i <= 10; i++) {
      const answer = await gh.app.inject({
        method: 'POST',
        url: '/api/v1/session',
        payload: { username: 'hans@acme.test', password: `guess-${i}-password` },
        remoteAddress: attacker,
      });
      assert.equal(answer.statusCode, 401, `guess ${i}`);
      nowMs += 600_000; // past every account lockout
    }
    await deliverEmails(gh.ctx);
    const mail = await smtp.next('hans@acme.test');
    assert.equal(mail.subject, 'Acme Mail: Anmeldung von einer Adresse gesperrt');
    assert.match(mail.text, /^Hallo Hans Meier,/);
    assert.ok(mail.text.includes(`von der Adresse ${attacker}`));
    const link = mail.text.match(/https?:\/\/\S+\/unblock\?token=\S+/)?.[0] as string;
    assert.ok(link, 'the text part carries the link');
    assert.ok((mail.html ?? '').includes(link.replace(/&/g, '&amp;')), 'the HTML part too');
    const token = new URL(link).searchParams.get('token') as string;
    assert.ok(
      gh.logs.every((line) => !line.includes(token)),
      'the unblock token is never logged',
    );

    // The page behind the link: the user's language, even for an English browser.
    const shown = await gh.app.inject({
      method: 'GET',
      url: `/unblock?token=${encodeURIComponent(token)}`,
      headers: { 'accept-language': 'en' },
    });
    assert.equal(shown.statusCode, 200);
    assert.match(shown.body, /<html lang="de">/);
    assert.match(shown.body, /Diese Adresse entsperren/);
    const invalid = await gh.app.inject({ method: 'GET', url: '/unblock?token=nope', headers: { 'accept-language': 'de-DE,de;q=0.9' } });
    assert.equal(invalid.statusCode, 400);
    assert.match(invalid.body, /Dieser Link wurde schon benutzt/, 'no user known: the browser’s language');
  });
});

describe('a message queued while the SMTP server is down survives a restart of Gatehouse', () => {
  it('is retried, kept in the database, and delivered by the next Gatehouse once the server is up', async () => {
    let nowMs = Date.parse('2026-11-28T12:00:00Z');
    const clock: Clock = { now: () => new Date(nowMs) };
    const port = await freePort(); // nothing listens there yet: the SMTP server is down
    const owner = await startGatehouse({
      clock,
      config: { smtpUrl: `smtp://127.0.0.1:${port}`, smtpFrom: 'Gatehouse <no-reply@gatehouse.test>' },
    });
    let peer: SmtpPeer | undefined;
    try {
      const first = await startGatehouse({ clock, sameDatabaseAs: owner });
      const tenant = await first.tenantWithAdmin('restart');
      await first.ctx.db.transaction().execute((trx) =>
        sendEmail(
          trx,
          first.ctx,
          {
            to: 'later@restart.test',
            tenantId: tenant.tenantId,
            locale: 'en',
            subject: 'mail.code_subject',
            paragraphs: [{ key: 'mail.code_intro' }],
            code: '135790',
          },
          translator,
        ),
      );
      assert.equal(await deliverEmails(first.ctx), 0, 'the SMTP server is down');
      const row = await owner.ctx.db
        .selectFrom('emails')
        .selectAll()
        .where('recipient', '=', 'later@restart.test')
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'pending');
      assert.equal(row.attempts, 1);
      assert.ok(row.last_error, 'the failure is recorded');
      await first.stop(); // Gatehouse goes away with the message undelivered

      peer = await startSmtpPeer(port);
      const second = await startGatehouse({ clock, sameDatabaseAs: owner });
      try {
        nowMs += 30_000; // the first retry is due
        assert.equal(await deliverEmails(second.ctx), 1);
        const mail = await peer.next('later@restart.test');
        assert.equal(mail.subject, 'Your RESTART verification code');
        assert.match(mail.text, /135790/);
        assert.match(mail.html ?? '', /135790/);
        const sent = await owner.ctx.db.selectFrom('emails').select('status').where('id', '=', row.id).executeTakeFirstOrThrow();
        assert.equal(sent.status, 'sent');
        assert.equal(await deliverEmails(second.ctx), 0, 'sent once');
      } finally {
        await second.stop();
      }
    } finally {
      await owner.stop();
      await peer?.stop();
    }
  });
});
