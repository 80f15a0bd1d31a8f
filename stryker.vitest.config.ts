import { defineConfig } from 'vitest/config';

// The unit tests StrykerJS runs against each mutant: the tests of the mutated files' areas and every
// `*-mutants.test.ts`, in one project (Stryker's vitest runner drives a single project). Slow files
// that only reach the mutated code through HTTP apps, a browser or child processes (auth/web apps,
// pages, bundles, the CLI binary) are left out, so one mutant costs seconds, not tens of seconds;
// the scores are therefore a lower bound of what the whole unit tier kills.
export default defineConfig({
  test: {
    include: [
      'test/unit/{plan,observe,incus,commands,model,apply,cluster}/**/*.test.ts',
      'test/unit/services/{router,catalog,config,concurrency}.test.ts',
      'test/unit/**/*-mutants.test.ts',
    ],
    testTimeout: 20_000,
    // Stryker switches mutants at run time, so test files need not be re-imported for each mutant:
    // without isolation a mutant costs its tests' run time instead of a fresh module graph.
    isolate: false,
  },
});
