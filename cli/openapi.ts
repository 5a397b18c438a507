/**
 * The OpenAPI documents of the services on the runtime's HTTP layer, made by @fastify/swagger
 * from the very route schemas the services validate with. `npx tsx cli/openapi.ts` writes
 * services/<name>/openapi.json; cli/openapi.test.ts checks that what is committed is what is made,
 * and each service's suite that what it serves is what is committed. (The catalogue makes its own
 * from its operation table: services/catalog/openapi.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openApiOf, openApiText } from '../runtime/http.ts';
import type { StageApi } from '../runtime/stage.ts';
import { advisorApi } from '../services/advisor/api.ts';
import { ageingApi } from '../services/ageing/index.ts';
import { billRunApi } from '../services/billrun/index.ts';
import { collectApi } from '../services/collect/index.ts';
import { drawdownApi } from '../services/drawdown/api.ts';
import { ingestApi } from '../services/ingest/index.ts';
import { notifyApi } from '../services/notify/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Only the routes' shapes are read: the use cases behind them are never called here.
const unused = undefined as never;

export const documentedServices: Record<string, () => StageApi> = {
  ingest: () => ingestApi({} as never),
  billrun: () => billRunApi(unused, unused, unused),
  collect: () => collectApi({} as never),
  ageing: () => ageingApi(unused, unused),
  notify: () => notifyApi(unused),
  advisor: () => advisorApi(unused, unused),
  drawdown: () => drawdownApi(unused, unused, unused),
};

export const openApiFile = (service: string) => path.join(root, 'services', service, 'openapi.json');

export async function serviceOpenApiText(service: string): Promise<string> {
  return openApiText(await openApiOf(documentedServices[service]!()));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const service of Object.keys(documentedServices)) {
    fs.writeFileSync(openApiFile(service), await serviceOpenApiText(service));
    process.stdout.write(`wrote services/${service}/openapi.json\n`);
  }
}
