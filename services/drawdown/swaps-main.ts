import { runMain } from '../../runtime/service.ts';
import { startPlanSwapRerating } from './swaps.ts';

void runMain('plan-swaps', startPlanSwapRerating);
