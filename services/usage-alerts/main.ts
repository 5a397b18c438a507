import { runMain } from '../../runtime/service.ts';
import { startUsageAlerts } from './index.ts';

void runMain('usage-alerts', startUsageAlerts);
