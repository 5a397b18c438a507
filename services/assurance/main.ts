import { runMain } from '../../runtime/service.ts';
import { startAssurance } from './index.ts';

void runMain('assurance', (config, deps) => startAssurance(config, deps));
