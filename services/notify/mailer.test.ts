import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../runtime/errors.ts';
import { mailerFromEnv } from './mailer.ts';

describe('the mail transport from the environment', () => {
  it('refuses to start with nowhere to send, saying what to set', () => {
    expect(() => mailerFromEnv({}, 1)).toThrow(ConfigError);
    expect(() => mailerFromEnv({}, 1)).toThrow(/set SMTP_URL .* or SMTP_HOST .* or NOTIFY_MAIL_DIR/);
  });

  it('refuses a URL that is not smtp:// or smtps://, without echoing it (it may hold a password)', () => {
    const attempt = () => mailerFromEnv({ SMTP_URL: 'http://user:hunter2@mail.example:25' }, 1);
    expect(attempt).toThrow(/SMTP_URL must start with smtp:\/\/ or smtps:\/\//);
    try {
      attempt();
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('describes where mail goes without the credentials', () => {
    const mailer = mailerFromEnv({ SMTP_URL: 'smtp://apikey:s3cret%21@smtp.example.net:2525' }, 2);
    expect(mailer.description).toBe('smtp://smtp.example.net:2525');
    mailer.close();
    const tls = mailerFromEnv({ SMTP_URL: 'smtps://u:p@smtp.example.net' }, 1);
    expect(tls.description).toBe('smtps://smtp.example.net:465');
    tls.close();
    const byParts = mailerFromEnv({ SMTP_HOST: 'relay.internal', SMTP_PORT: '587', SMTP_USER: 'u', SMTP_PASSWORD: 'p' }, 1);
    expect(byParts.description).toBe('smtp://relay.internal:587');
    byParts.close();
    expect(() => mailerFromEnv({ SMTP_HOST: 'relay.internal', SMTP_PORT: 'x' }, 1)).toThrow(/SMTP_PORT must be a port number/);
    expect(mailerFromEnv({ NOTIFY_MAIL_DIR: '/tmp/mail' }, 1).description).toBe('files in /tmp/mail');
  });
});
