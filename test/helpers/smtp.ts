import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string;
  subject: string;
  text: string;
  html: string | undefined;
}

export interface SmtpPeer {
  url: string;
  port: number;
  messages: ReceivedMail[];
  /** The next message to `to` that arrives (or has arrived and was not taken yet). */
  next(to: string, timeoutMs?: number): Promise<ReceivedMail>;
  /** Refuses every message with a temporary error while `true` (a server that is "down"). */
  refusing: boolean;
  stop(): Promise<void>;
}

/** A real SMTP server (smtp-server) on a free port, keeping what it receives, parsed. */
export async function startSmtpPeer(port = 0): Promise<SmtpPeer> {
  const taken = new Set<ReceivedMail>();
  const waiters: { to: string; resolve: (mail: ReceivedMail) => void }[] = [];
  const peer: SmtpPeer = {
    url: '',
    port: 0,
    messages: [],
    refusing: false,
    next(to, timeoutMs = 10_000) {
      const waiting = peer.messages.find((mail) => mail.to === to && !taken.has(mail));
      if (waiting) {
        taken.add(waiting);
        return Promise.resolve(waiting);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`No email to ${to} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          to,
          resolve: (mail) => {
            clearTimeout(timer);
            taken.add(mail);
            resolve(mail);
          },
        });
      });
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      if (peer.refusing) {
        stream.resume();
        stream.on('end', () => callback(Object.assign(new Error('Try again later'), { responseCode: 451 })));
        return;
      }
      simpleParser(stream)
        .then((parsed: ParsedMail) => {
          for (const recipient of session.envelope.rcptTo) {
            const mail = { to: recipient.address, subject: parsed.subject ?? '', text: parsed.text ?? '', html: parsed.html || undefined };
            peer.messages.push(mail);
            const index = waiters.findIndex((waiter) => waiter.to === mail.to);
            if (index >= 0) waiters.splice(index, 1)[0]!.resolve(mail);
          }
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  peer.port = (server.server.address() as AddressInfo).port;
  peer.url = `smtp://127.0.0.1:${peer.port}`;
  return peer;
}
