import { defineConfig } from 'vitest/config';

// Two projects: pure unit tests beside the code, and integration suites in test/ that run
// against the real local stack (started once by test/global-setup.ts).
export default defineConfig({
  test: {
    // Integration suites share one local stack and two cores: one file at a time.
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{domain,runtime,services,topics,infra,cli,schemas,contracts,gateways,documents}/**/*.test.ts'],
          environment: 'node',
          env: { RATELINE_CHECK_RESPONSES: '1' },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/global-setup.ts'],
          // The suites replay scenario calls dated from early 2026 through ingest on the system
          // clock, which a 45-day de-duplication window would reject as outside_dedupe_window.
          // test/ingest-dedupe-window.test.ts sets its own window.
          // Every API answer is held to its documented schema (runtime/http.ts checkResponses).
          env: { INGEST_DEDUPE_WINDOW_DAYS: '3650', RATELINE_CHECK_RESPONSES: '1' },
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
