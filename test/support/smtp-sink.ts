import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

/** One mail as the server received it, parsed. */
export interface ReceivedMail {
  envelopeTo: string[];
  parsed: ParsedMail;
  notificationId: string | undefined;
  messageId: string | undefined;
}

/**
 * A real SMTP server inside the test (the `smtp-server` package, no auth, plain TCP on
 * 127.0.0.1), keeping every delivery parsed by `mailparser`. `refuse` makes it answer RCPT TO
 * for an address with a code (450: try later; 550: no such mailbox).
 */
export class SmtpSink {
  readonly mails: ReceivedMail[] = [];
  private readonly refusals = new Map<string, number>();
  readonly rcptAttempts = new Map<string, number>();
  private server!: SMTPServer;
  port = 0;

  refuse(address: string, code: number): void {
    this.refusals.set(address.toLowerCase(), code);
  }

  /** With `auth`, the server asks for that user and password (PLAIN/LOGIN, over plain TCP: a test only). */
  constructor(private readonly auth?: { user: string; pass: string }) {}

  async start(port = 0): Promise<void> {
    this.server = new SMTPServer({
      authOptional: !this.auth,
      allowInsecureAuth: true,
      disabledCommands: this.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      onAuth: (auth, _session, callback) => {
        if (this.auth && auth.username === this.auth.user && auth.password === this.auth.pass) return callback(null, { user: auth.username });
        callback(new Error('invalid username or password'));
      },
      logger: false,
      size: 20 * 1024 * 1024,
      onRcptTo: (address, _session, callback) => {
        const a = address.address.toLowerCase();
        this.rcptAttempts.set(a, (this.rcptAttempts.get(a) ?? 0) + 1);
        const code = this.refusals.get(a);
        if (code === undefined) return callback();
        callback(Object.assign(new Error(code >= 500 ? `${a}: no such mailbox` : `${a}: mailbox busy, try later`), { responseCode: code }));
      },
      onData: (stream, session, callback) => {
        simpleParser(stream).then(
          (parsed) => {
            const header = parsed.headers.get('x-rateline-notification');
            this.mails.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), parsed, notificationId: typeof header === 'string' ? header : undefined, messageId: parsed.messageId });
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });
    // A client killed mid-session resets its connection: that is the tests' doing, not a failure.
    this.server.on('error', () => undefined);
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
  }

  get url(): string {
    return this.auth ? `smtp://${encodeURIComponent(this.auth.user)}:${encodeURIComponent(this.auth.pass)}@127.0.0.1:${this.port}` : `smtp://127.0.0.1:${this.port}`;
  }

  /** Mails of one notification id (its X-Rateline-Notification header). */
  of(notificationId: string): ReceivedMail[] {
    return this.mails.filter((m) => m.notificationId === notificationId);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
