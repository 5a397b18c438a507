import { runMain } from '../../runtime/service.ts';
import { startAdvisor } from './index.ts';

void runMain('advisor', startAdvisor);
