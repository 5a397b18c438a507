import { runMain } from '../../runtime/service.ts';
import { startCollect } from './index.ts';

void runMain('collect', startCollect);
