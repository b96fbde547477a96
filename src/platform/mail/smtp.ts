import nodemailer, { type Transporter } from 'nodemailer';
import type { Config } from '../config.js';
import type { Mailer } from '../ports/mailer.js';

/**
 * The SMTP server of GATEHOUSE_SMTP_URL, from GATEHOUSE_SMTP_FROM. The transport is opened at
 * the first message, so a node without SMTP (which keeps its email in the development
 * outbox) never opens one.
 */
export function createSmtpMailer(config: Pick<Config, 'smtpUrl' | 'smtpFrom'>): Mailer {
  let transport: Transporter | undefined;
  return {
    async send(message) {
      transport ??= nodemailer.createTransport(config.smtpUrl, { from: config.smtpFrom });
      await transport.sendMail(message);
    },
    close() {
      transport?.close();
    },
  };
}
