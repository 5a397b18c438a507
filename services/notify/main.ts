import { runMain } from '../../runtime/service.ts';
import { startNotify } from './index.ts';

void runMain('notify', startNotify);
