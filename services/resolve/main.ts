import { runMain } from '../../runtime/service.ts';
import { startResolve } from './index.ts';

void runMain('resolve', startResolve);
