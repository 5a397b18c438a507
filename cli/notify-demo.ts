import { join } from 'node:path';
import { stackHome } from '../infra/stack/index.ts';
import type { RuntimeConfig } from '../runtime/config.ts';
import { createDb } from '../runtime/db.ts';
import { createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { AvroSerde } from '../runtime/serde.ts';
import { systemClock } from '../runtime/time.ts';
import { startNotify } from '../services/notify/index.ts';

/**
 * The notification half of the main job: the notify service reads the invoices the bill run just
 * published and writes each brand's email (with the invoice PDF attached) as an .eml file under
 * the stack's home, as an SMTP server would have received it (SMTP_URL sends them for real).
 */
export async function runNotifyDemo(config: RuntimeConfig, brands: string[], invoiceIds: string[], run: string, print: (line: string) => void): Promise<{ sent: number }> {
  const folder = join(stackHome(), 'mail', run);
  const kafka = createKafka(config.kafka, silentLogger);
  const notify = await startNotify(config, { kafka, serde: new AvroSerde(config.registry.url), logger: silentLogger, clock: systemClock }, {
    groupId: 'rateline-notify-demo',
    topicPattern: new RegExp(`^brand\\.(${brands.join('|')})\\.(invoices|payments|usage-alerts)$`),
    env: { ...process.env, NOTIFY_MAIL_DIR: process.env.SMTP_URL || process.env.SMTP_HOST ? undefined : folder, NOTIFY_POLL_MS: '100' },
  });
  const db = createDb(config.postgres, { poolMax: 1 });
  try {
    const ids = invoiceIds.map((id) => `${id}:invoice_issued`);
    const deadline = Date.now() + 120_000;
    let rows: { notification_id: string; status: string; reason: string | null }[] = [];
    while (Date.now() < deadline) {
      rows = await db('notify.notifications').whereIn('notification_id', ids).select('notification_id', 'status', 'reason');
      if (rows.length === ids.length && rows.every((r) => r.status !== 'pending' && r.status !== 'sending')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const sent = rows.filter((r) => r.status === 'sent').length;
    print(`${sent} of ${ids.length} invoice emails sent${process.env.SMTP_URL || process.env.SMTP_HOST ? ' over SMTP' : `, written to ${folder}`}`);
    for (const r of rows.filter((x) => x.status !== 'sent')) print(`  ${r.notification_id}: ${r.status} ${r.reason ?? ''}`);
    return { sent };
  } finally {
    await db.destroy();
    await notify.stop();
  }
}
