import { RATELINE_CSV, asteriskMasterCsv, freeswitchMasterCsv, type CsvMapping } from './csv-mapping.ts';
import type { ValidationPolicy } from './types.ts';

/** The ready CSV mappings, by the name users give on the command line and in uploads. */
export const CSV_MAPPING_NAMES = ['asterisk', 'freeswitch', 'rateline'] as const;
export type CsvMappingName = (typeof CSV_MAPPING_NAMES)[number];

/** Platforms write local times: UTC unless told the zone. */
export const DEFAULT_PLATFORM_ZONE = 'UTC';
/** The usage type of Asterisk and FreeSWITCH lines unless told another: live call answering. */
export const DEFAULT_USAGE_TYPE = 'LCA';

/** The duration checks of every entry point (ingest, file job, rate-file): a day, 2 s of slack. */
export const DEFAULT_DURATION_LIMITS: Pick<ValidationPolicy, 'maxDurationSeconds' | 'durationToleranceSeconds'> = {
  maxDurationSeconds: 86_400,
  durationToleranceSeconds: 2,
};

/** The mapping a name stands for; zone and usage type apply to the platform mappings only. */
export function csvMappingNamed(name: CsvMappingName, options: { zone?: string | null; usageType?: string | null } = {}): CsvMapping {
  const usageType = { kind: 'constant', value: options.usageType ?? DEFAULT_USAGE_TYPE } as const;
  switch (name) {
    case 'asterisk':
      return asteriskMasterCsv({ zone: options.zone ?? DEFAULT_PLATFORM_ZONE, usageType });
    case 'freeswitch':
      return freeswitchMasterCsv({ zone: options.zone ?? DEFAULT_PLATFORM_ZONE, usageType });
    case 'rateline':
      return RATELINE_CSV;
  }
}
