/**
 * The Mailer seam implemented with nodemailer: one SMTP connection per send run (pooled, reused for
 * every member of the run), bounded timeouts so a hung server cannot outlive the sender's lease.
 */
import nodemailer from "nodemailer";
import { classifySmtpError, type Mailer, type OutgoingMail, type SmtpSettings } from "./domain/delivery";

export interface SmtpMailerOptions {
  connectionTimeoutMs?: number;
  socketTimeoutMs?: number;
}

export function createSmtpMailer(settings: SmtpSettings, opts: SmtpMailerOptions = {}): Mailer {
  const transport = nodemailer.createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    ...(settings.auth ? { auth: { user: settings.auth.user, pass: settings.auth.pass } } : {}),
    pool: true,
    maxConnections: 1,
    connectionTimeout: opts.connectionTimeoutMs ?? 20_000,
    greetingTimeout: opts.connectionTimeoutMs ?? 20_000,
    socketTimeout: opts.socketTimeoutMs ?? 30_000,
  });
  return {
    async send(mail: OutgoingMail) {
      try {
        const info = await transport.sendMail({
          from: mail.from,
          to: mail.to,
          subject: mail.subject,
          text: mail.text,
          ...(mail.html ? { html: mail.html } : {}),
          messageId: mail.messageId,
          headers: mail.headers,
        });
        // A single recipient: nodemailer reports a refused one in `rejected` when others were accepted.
        if (info.rejected?.length) throw Object.assign(new Error(`recipient rejected: ${String(info.rejectedErrors?.[0]?.message ?? info.response)}`), { code: "EENVELOPE", responseCode: 550 });
        return { messageId: info.messageId ?? mail.messageId, response: info.response };
      } catch (e) {
        throw classifySmtpError(e);
      }
    },
    close() {
      transport.close();
    },
  };
}
