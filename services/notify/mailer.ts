import fs from 'node:fs/promises';
import path from 'node:path';
import nodemailer, { type Mail } from 'nodemailer';
import { ConfigError } from '../../runtime/errors.ts';

/** One mail as notify hands it to the transport. */
export interface OutgoingMail {
  from: { name: string; address: string };
  replyTo: { name: string; address: string };
  to: string[];
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
  attachments: { filename: string; content: Buffer; contentType: string }[];
}

/** What the transport says of a sent mail: the recipients it refused while accepting others. */
export interface SentMail {
  response: string;
  rejectedErrors: { recipient?: string; responseCode?: number; response?: string }[];
}

export interface Mailer {
  /** Where mails go, without credentials (for logs and /healthz). */
  readonly description: string;
  send(mail: OutgoingMail): Promise<SentMail>;
  close(): void;
}

/**
 * The mail transport from the environment:
 * - SMTP_URL (smtp://user:password@host:587, smtps://... for implicit TLS; STARTTLS is used
 *   when the server offers it), or SMTP_HOST with SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASSWORD;
 * - NOTIFY_MAIL_DIR instead writes each mail as an .eml file there (the demo; no server needed).
 * One of them must be set: a notification service with nowhere to send fails at boot.
 */
export function mailerFromEnv(env: Readonly<Record<string, string | undefined>>, poolSize: number): Mailer {
  const dir = env['NOTIFY_MAIL_DIR'];
  if (dir) return fileMailer(dir);
  const timeouts = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };
  const url = env['SMTP_URL'];
  if (url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(['SMTP_URL is not a URL: write smtp://user:password@host:587 (or smtps:// for implicit TLS)']);
    }
    if (!['smtp:', 'smtps:'].includes(parsed.protocol)) throw new ConfigError([`SMTP_URL must start with smtp:// or smtps://, not ${parsed.protocol}//`]);
    const transport = nodemailer.createTransport({
      host: parsed.hostname,
      port: Number(parsed.port || (parsed.protocol === 'smtps:' ? 465 : 587)),
      secure: parsed.protocol === 'smtps:',
      ...(parsed.username ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } } : {}),
      pool: true,
      maxConnections: poolSize,
      ...timeouts,
    });
    return smtpMailer(transport, `${parsed.protocol}//${parsed.hostname}:${parsed.port || (parsed.protocol === 'smtps:' ? 465 : 587)}`);
  }
  const host = env['SMTP_HOST'];
  if (host) {
    const port = Number(env['SMTP_PORT'] ?? '587');
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new ConfigError([`SMTP_PORT must be a port number, got ${env['SMTP_PORT']}`]);
    const secure = env['SMTP_SECURE'] === 'true';
    const user = env['SMTP_USER'];
    const transport = nodemailer.createTransport({ host, port, secure, ...(user ? { auth: { user, pass: env['SMTP_PASSWORD'] ?? '' } } : {}), pool: true, maxConnections: poolSize, ...timeouts });
    return smtpMailer(transport, `${secure ? 'smtps' : 'smtp'}://${host}:${port}`);
  }
  throw new ConfigError(['set SMTP_URL (smtp://user:password@host:587) or SMTP_HOST (with SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASSWORD) to send mail, or NOTIFY_MAIL_DIR to write mails to files']);
}

function smtpMailer(transport: Mail<any, any>, description: string): Mailer {
  return {
    description,
    send: async (mail) => {
      const info = (await transport.sendMail({
        from: mail.from,
        replyTo: mail.replyTo,
        to: mail.to,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        messageId: mail.messageId,
        headers: mail.headers,
        attachments: mail.attachments,
      })) as { response?: string; rejectedErrors?: SentMail['rejectedErrors'] };
      return { response: info.response ?? '', rejectedErrors: info.rejectedErrors ?? [] };
    },
    close: () => transport.close(),
  };
}

/** Each mail as <dir>/<message id>.eml: what a real server would have received. */
function fileMailer(dir: string): Mailer {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    description: `files in ${dir}`,
    send: async (mail) => {
      const info = (await transport.sendMail({ ...mail })) as unknown as { message: Buffer };
      await fs.mkdir(dir, { recursive: true });
      await fs.writeFile(path.join(dir, `${mail.messageId.replace(/[<>]/g, '').replace(/[^A-Za-z0-9._@-]/g, '_')}.eml`), info.message);
      return { response: 'written', rejectedErrors: [] };
    },
    close: () => transport.close(),
  };
}
