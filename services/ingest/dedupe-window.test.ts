import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../runtime/errors.ts';
import { dedupeSettings } from './dedupe-window.ts';

describe('dedupeSettings', () => {
  it.each([
    ['defaults', {}, {}, { windowDays: 45, pruneIntervalMs: 3_600_000 }],
    ['from the environment', { INGEST_DEDUPE_WINDOW_DAYS: '34', INGEST_DEDUPE_PRUNE_INTERVAL_MS: '0' }, {}, { windowDays: 34, pruneIntervalMs: 0 }],
    ['options over the environment', { INGEST_DEDUPE_WINDOW_DAYS: '34' }, { windowDays: 40 }, { windowDays: 40, pruneIntervalMs: 3_600_000 }],
    ['the longest timer', { INGEST_DEDUPE_PRUNE_INTERVAL_MS: '2147483647' }, {}, { windowDays: 45, pruneIntervalMs: 2_147_483_647 }],
  ])('%s', (_, env, options, expected) => {
    expect(dedupeSettings(env, options)).toEqual(expected);
  });

  it('refuses at boot, naming every variable at fault', () => {
    const refuse = (env: Record<string, string>) => {
      try {
        dedupeSettings(env, {});
      } catch (error) {
        return (error as ConfigError).problems;
      }
      throw new Error('accepted');
    };
    expect(refuse({ INGEST_DEDUPE_WINDOW_DAYS: 'forty', INGEST_DEDUPE_PRUNE_INTERVAL_MS: '-1' })).toEqual([
      'INGEST_DEDUPE_WINDOW_DAYS must be a whole number ≥ 0, got "forty"',
      'INGEST_DEDUPE_PRUNE_INTERVAL_MS must be a whole number ≥ 0, got "-1"',
    ]);
    expect(refuse({ INGEST_DEDUPE_WINDOW_DAYS: '0' })).toEqual(['INGEST_DEDUPE_WINDOW_DAYS: a de-duplication window must be 1 to 3650 whole days, got 0']);
    expect(refuse({ INGEST_DEDUPE_WINDOW_DAYS: '3888000000' })).toEqual(['INGEST_DEDUPE_WINDOW_DAYS: a de-duplication window must be 1 to 3650 whole days, got 3888000000']);
    // Node would fire a longer timer at once, pruning in a tight loop.
    expect(refuse({ INGEST_DEDUPE_PRUNE_INTERVAL_MS: '2147483648' })).toEqual(['INGEST_DEDUPE_PRUNE_INTERVAL_MS must be 0 (no schedule) to 2147483647 ms (about 24.8 days), got 2147483648']);
  });
});
