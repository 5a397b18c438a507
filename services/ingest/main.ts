import { runMain } from '../../runtime/service.ts';
import { startIngest } from './index.ts';

void runMain('ingest', startIngest);
