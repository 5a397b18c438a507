import { runMain } from '../../runtime/service.ts';
import { startConsole } from './index.ts';

void runMain('console', (config, deps) => startConsole(config, deps));
