/**
 * The outgoing-mail port: declared here because the context carries it (src/platform/context.ts);
 * src/platform/mail/smtp.ts implements it and src/main/gatehouse.ts builds it once. The email
 * queue (src/platform/mail/mailer.ts) hands each due message to it.
 */

/** One message on its way out: `text` always, `html` its richer twin. */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface Mailer {
  /** Sends one message; throws when the server refuses it or cannot be reached (the queue retries). */
  send(message: OutgoingMail): Promise<void>;
  /** Closes the connections it holds (when the email worker stops). */
  close(): void;
}
