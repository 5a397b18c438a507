import { runMain } from '../../runtime/service.ts';
import { startDrawdown } from './index.ts';

void runMain('drawdown', startDrawdown);
