import { runMain } from '../../runtime/service.ts';
import { startBillRun } from './index.ts';

void runMain('billrun', startBillRun);
