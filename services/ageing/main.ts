import { runMain } from '../../runtime/service.ts';
import { startAgeing } from './index.ts';

void runMain('ageing', startAgeing);
