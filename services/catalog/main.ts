import { runMain } from '../../runtime/service.ts';
import { startCatalog } from './index.ts';

void runMain('catalog', (config, deps) => startCatalog(config, deps));
