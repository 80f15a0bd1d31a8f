// `npm run build` (after `tsc` has checked the types): writes dist/.
// - dist/cli/: the CLI bundled by esbuild into a few ES modules. Node resolving, reading and compiling the CLI's
//   and its packages' ~430 files (plan) one by one was most of distctl's start-up (bench/RESULTS.md, goal 4).
// - dist/services/: the services' modules one file each, as the services benches import them (distctl itself
//   deploys the services by bundling their sources, src/deploy/bundle.ts).
// esbuild only strips the types, one file at a time: tsconfig's `isolatedModules` makes tsc refuse what that
// would get wrong.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

// Stale chunks of an earlier build (or the file-per-module tree tsc used to write) must not survive.
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

/**
 * zod's `z` namespace carries its ~50 error-message locales (360 kB, a third of the chunk `validate` and `plan`
 * load); distctl uses only the English one zod configures itself with. Measured: importing that chunk costs
 * ~50 ms less CPU without them (bench/RESULTS.md). Should a zod release move the file, this matches nothing and
 * the build says so.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(bundler) {
    let trimmed = false;
    bundler.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      // `z.locales` and `z.core.locales`.
      if (!/\/node_modules\/zod\/v4\/(classic\/external|core\/index)\.js$/.test(args.importer)) return undefined;
      trimmed = true;
      return { path: 'zod-locales', namespace: 'zod-english-only' };
    });
    bundler.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, () => ({
      contents: "export { default as en } from 'zod/v4/locales/en.js';",
      resolveDir: root,
    }));
    bundler.onEnd(() => {
      if (!trimmed) console.warn("bin/build.mjs: zod's locales were not found; the CLI bundle carries all of them");
    });
  },
};

const common = { absWorkingDir: root, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning' };

await Promise.all([
  build({
    ...common,
    entryPoints: { main: 'src/cli/main.ts' },
    // Every output file sits in dist/cli/, two levels below the package root as src/<stage>/ is: the modules that
    // find package.json, templates/, bin/ and src/services/ by `new URL('../../…', import.meta.url)` work unchanged.
    outdir: 'dist/cli',
    chunkNames: '[name]-[hash]',
    bundle: true,
    // Each `await import(…)` of a command module (and of execa, ora, the driver adapter) becomes a chunk loaded only
    // when it runs: `--help` still loads none of them.
    splitting: true,
    external: [
      // The MongoDB driver `require`s its optional compression, Kerberos and encryption packages inside try/catch.
      'mongodb',
      // esbuild runs its platform binary, found from its own package.
      'esbuild',
    ],
    // Bundled CommonJS packages (commander, yaml, tar-stream) `require` Node's built-ins; an ES module has no
    // `require`, so each output file defines one.
    banner: {
      js:
        "import { createRequire as distctlCreateRequire } from 'node:module'; " +
        'const require = distctlCreateRequire(import.meta.url);',
    },
    // Unminified: an internal error's stack stays readable.
    minify: false,
    plugins: [zodEnglishOnly],
    sourcemap: 'linked',
    sourcesContent: false,
  }),
  build({
    ...common,
    entryPoints: ['src/services/**/*.ts'],
    outbase: 'src/services',
    outdir: 'dist/services',
    sourcemap: 'linked',
    sourcesContent: false,
  }),
]);
