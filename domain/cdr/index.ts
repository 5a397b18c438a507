export type {
  CdrIssue,
  CdrRejectCode,
  CdrRejection,
  RawCdr,
  Result,
  ValidationPolicy,
} from './types.ts';
export { REJECT_PRECEDENCE, rejectionFrom } from './types.ts';
export type { NumberProblem } from './e164.ts';
export { isWithheldCaller, normaliseNumber } from './e164.ts';
export { validateCdr } from './validate.ts';
export type { RejectionKey } from './dedupe-key.ts';
export { cdrEventId, fileLineOrigin, rejectionId } from './dedupe-key.ts';
export { cdrKey, parseCdrKey } from './kafka-key.ts';
export type { WindowCheck } from './dedupe-window.ts';
export { DEFAULT_DEDUPE_WINDOW_DAYS, MAX_DEDUPE_WINDOW_DAYS, PRUNE_MARGIN_MS, checkDedupeWindow, dedupeWindowProblems, pruneBefore, windowStart } from './dedupe-window.ts';
export type { CsvSyntaxError } from './csv-line.ts';
export { parseCsvLine } from './csv-line.ts';
export type { LocalTimeReading } from './local-time.ts';
export { localTimeInstants, parseIsoWithOffset, zoneNamed } from './local-time.ts';
export type {
  AsteriskCsvOptions,
  ChosenInstants,
  ColumnRef,
  CompiledMapping,
  CsvMapping,
  DurationSource,
  FreeSwitchCsvOptions,
  MapContext,
  TimeFormat,
  UsageTypeSource,
} from './csv-mapping.ts';
export {
  ASTERISK_BASE_COLUMNS,
  FREESWITCH_EXAMPLE_COLUMNS,
  RATELINE_CSV,
  asteriskMasterCsv,
  chooseInstants,
  compileMapping,
  freeswitchMasterCsv,
  mapCsvLine,
  mapFields,
} from './csv-mapping.ts';
export type { FileLineResult, FileSummary, ReadCdrFileOptions } from './file-reader.ts';
export { CdrFileError, emptySummary, readCdrFile, summariseFile, tally } from './file-reader.ts';
export type { CsvMappingName } from './mapping-names.ts';
export { CSV_MAPPING_NAMES, DEFAULT_DURATION_LIMITS, DEFAULT_PLATFORM_ZONE, DEFAULT_USAGE_TYPE, csvMappingNamed } from './mapping-names.ts';
