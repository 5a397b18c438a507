/**
 * Makes a catalogue API key and prints it once (only its sha-256 is stored), or revokes one.
 *
 *   tsx services/catalog/keys-cli.ts --label "ansr-us portal" --brand ansr-us [--expires 2027-01-01T00:00:00Z]
 *   tsx services/catalog/keys-cli.ts --label "ops"            (a parent key: sees every brand)
 *   tsx services/catalog/keys-cli.ts --revoke <keyId>
 *
 * DATABASE_URL, or the running local stack's, says where the catalogue's database is. The key's
 * state goes into the catalogue's outbox: the running catalogue publishes it on ref.api-keys,
 * from which every other service verifies keys.
 */
import { parseArgs } from 'node:util';
import { runningStackEndpoints } from '../../infra/stack/index.ts';
import { createDb, migrateService } from '../../runtime/db.ts';
import { createApiKey, revokeApiKey } from './keys.ts';
import { migrations, SCHEMA, t } from './schema.ts';

const { values } = parseArgs({ options: { brand: { type: 'string' }, label: { type: 'string' }, expires: { type: 'string' }, revoke: { type: 'string' } } });
const url = process.env.DATABASE_URL || runningStackEndpoints()?.databaseUrl;
const expiresAt = values.expires ? new Date(values.expires) : null;
if (!url || (!values.label && !values.revoke) || (expiresAt && Number.isNaN(expiresAt.getTime()))) {
  process.stderr.write('usage: tsx services/catalog/keys-cli.ts --label <what it is for> [--brand <code>] [--expires <ISO instant>] | --revoke <keyId>  (DATABASE_URL or a running local stack)\n');
  process.exit(2);
}
const db = createDb({ url });
try {
  await migrateService(db, SCHEMA, migrations);
  if (values.revoke) {
    const revoked = await revokeApiKey(db, values.revoke, new Date());
    if (revoked) process.stdout.write(`${JSON.stringify(revoked, null, 2)}\n`);
    else {
      process.stderr.write(`no API key ${values.revoke}\n`);
      process.exitCode = 2;
    }
  } else if (values.brand && !(await db(t('companies')).where({ code: values.brand, kind: 'brand' }).first())) {
    process.stderr.write(`unknown brand "${values.brand}": create it first (PUT /brands/${values.brand} with a parent key)\n`);
    process.exitCode = 2;
  } else {
    const key = await createApiKey(db, { brand: values.brand ?? null, label: values.label!, expiresAt });
    process.stdout.write(`${JSON.stringify(key, null, 2)}\nKeep the key: it is not shown again.\n`);
  }
} finally {
  await db.destroy();
}
