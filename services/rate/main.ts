import { runMain } from '../../runtime/service.ts';
import { startRate } from './index.ts';

void runMain('rate', startRate);
