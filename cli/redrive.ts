import type { RuntimeConfig } from '../runtime/config.ts';
import { createKafka } from '../runtime/kafka.ts';
import { silentLogger } from '../runtime/log.ts';
import { redriveRejections, type RejectionRedriveReport } from '../runtime/redrive.ts';
import { AvroSerde } from '../runtime/serde.ts';

export interface RedriveOptions {
  reason: string;
  stage?: string;
  source?: string;
  /** Only rejections written at or after this instant (Kafka timestamp). */
  since?: number;
  dryRun?: boolean;
}

export type RedriveReport = RejectionRedriveReport;

/** `rateline redrive`: rejected records of one reason back to the stage that rejected them (runtime/redrive.ts). */
export async function redrive(config: RuntimeConfig, options: RedriveOptions): Promise<RedriveReport> {
  return redriveRejections(createKafka(config.kafka, silentLogger), new AvroSerde(config.registry.url), options);
}
