/**
 * Makes a catalogue API key and prints it once (only its sha-256 is stored).
 *
 *   tsx services/catalog/keys-cli.ts --label "ansr-us portal" --brand ansr-us
 *   tsx services/catalog/keys-cli.ts --label "ops"            (a parent key: sees every brand)
 *
 * DATABASE_URL, or the running local stack's, says where the catalogue's database is.
 */
import { parseArgs } from 'node:util';
import { runningStackEndpoints } from '../../infra/stack/index.ts';
import { createDb, migrateService } from '../../runtime/db.ts';
import { createApiKey } from './keys.ts';
import { migrations, SCHEMA, t } from './schema.ts';

const { values } = parseArgs({ options: { brand: { type: 'string' }, label: { type: 'string' } } });
const url = process.env.DATABASE_URL || runningStackEndpoints()?.databaseUrl;
if (!url || !values.label) {
  process.stderr.write('usage: tsx services/catalog/keys-cli.ts --label <what it is for> [--brand <code>]  (DATABASE_URL or a running local stack)\n');
  process.exit(2);
}
const db = createDb({ url });
try {
  await migrateService(db, SCHEMA, migrations);
  if (values.brand && !(await db(t('companies')).where({ code: values.brand, kind: 'brand' }).first())) {
    process.stderr.write(`unknown brand "${values.brand}": create it first (PUT /brands/${values.brand} with a parent key)\n`);
    process.exitCode = 2;
  } else {
    const key = await createApiKey(db, { brand: values.brand ?? null, label: values.label });
    process.stdout.write(`${JSON.stringify(key, null, 2)}\nKeep the key: it is not shown again.\n`);
  }
} finally {
  await db.destroy();
}
