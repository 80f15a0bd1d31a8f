// StrykerJS: mutation testing of the files whose behaviour the README promises most directly.
// Not part of `npm test` (it takes many minutes): run `node bench/mutation.mjs`, which prints the
// score per file. Runs the unit tier only (the vitest config below), one test process at a time.
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'stryker.vitest.config.ts', related: true },
  mutate: [
    'src/plan/**/*.ts',
    'src/observe/**/*.ts',
    'src/commands/status.ts',
    'src/commands/up.ts',
    'src/services/shared/jwt.ts',
    'src/services/web/shard-router.ts',
    'src/services/web/catalog.ts',
  ],
  coverageAnalysis: 'perTest',
  // Module-level constants would need every test re-run per mutant; their values are pinned by exact assertions anyway.
  ignoreStatic: true,
  // Stryker rewrites the tsconfig's out-of-sandbox `extends`/`references` with TypeScript's JS API, which
  // TypeScript 7 no longer has; this project has neither, so point the rewrite at a file that is not there.
  tsconfigFile: 'no-tsconfig-rewrite.json',
  // The machine is small and shared: one test process, and only the mutants that changed since the last run.
  concurrency: 1,
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  reporters: ['json', 'clear-text', 'progress'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { reportTests: false, reportMutants: false, reportScoreTable: true },
  thresholds: { high: 90, low: 80, break: null },
  timeoutMS: 3_000,
};
