import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { access, mkdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Message } from 'esbuild';
import { z } from 'zod';
import type { ServiceKind } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';

/**
 * The bundled services' sources (`src/services/`), resolved from this module:
 * `src/deploy/` and the CLI bundle's `dist/cli/` both sit two levels below the
 * package root, so the same URL finds the TypeScript sources from either.
 */
export const DEFAULT_SERVICES_ROOT = fileURLToPath(new URL('../../src/services/', import.meta.url));

/** The package root: esbuild resolves `node_modules` from here and names bundled files relative to it. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Optional peer dependencies of the mongodb driver (compression, Kerberos,
 * client-side encryption, cloud credential providers). The driver `require`s
 * them inside try/catch and works without them; the services use none.
 */
const OPTIONAL_DRIVER_DEPENDENCIES = [
  'kerberos',
  'snappy',
  '@mongodb-js/zstd',
  'mongodb-client-encryption',
  'aws4',
  'socks',
  'gcp-metadata',
  '@aws-sdk/credential-providers',
] as const;

/**
 * Bundled CommonJS dependencies (express, the driver) call `require`; an ES
 * module has none, so the bundle defines one up front.
 */
const REQUIRE_BANNER =
  "import { createRequire as distctlCreateRequire } from 'node:module'; const require = distctlCreateRequire(import.meta.url);";

/**
 * Where bundles and file digests are cached (the deployment's state directory):
 * `readOnly` uses what is there and writes nothing (`plan`).
 */
export interface BuildCache {
  readonly dir: string;
  readonly readOnly?: boolean;
}

/** The build cache of a deployment: `cache/` in its state directory. */
export function buildCache(stateDir: string, readOnly = false): BuildCache {
  return { dir: join(stateDir, 'cache'), readOnly };
}

/** One service built into a single self-contained ES module. */
export interface ServiceBundle {
  readonly kind: ServiceKind;
  /** The module's text: everything but Node's built-ins is inside. */
  readonly code: string;
  /** sha256 of `code`, hex. */
  readonly hash: string;
}

/** The entry point of a service kind under a services root: `<root>/auth/main.ts` (or `main.js` in a compiled tree). */
export async function serviceEntryPoint(root: string, kind: ServiceKind): Promise<string> {
  const candidates = ['main.ts', 'main.js'].map((file) => join(root, kind, file));
  for (const candidate of candidates) {
    try {
      await access(candidate);
      return candidate;
    } catch {
      // try the next candidate
    }
  }
  throw new DistctlError(
    'SERVICE_SOURCE_MISSING',
    `no entry point for the ${kind} service under ${root} (looked for ${candidates.join(', ')})`,
    {
      hint: 'Point the services source at a directory holding auth/main.ts and web/main.ts (the layout of src/services in the distctl checkout).',
    },
  );
}

/**
 * Builds one service into a single ES module for Node 20 with esbuild, in
 * memory. Deterministic for the same sources: the content hash decides
 * whether a container gets a new copy.
 */
export async function bundleService(
  kind: ServiceKind,
  root: string = DEFAULT_SERVICES_ROOT,
  cache?: BuildCache,
): Promise<ServiceBundle> {
  const entry = await serviceEntryPoint(root, kind);
  const cacheFile =
    cache === undefined
      ? undefined
      : join(cache.dir, `bundle-${kind}-${createHash('sha256').update(entry).digest('hex').slice(0, 16)}.json`);
  const cached = cacheFile === undefined ? null : await readCachedBundle(cacheFile, kind);
  if (cached !== null) return cached;
  // esbuild is loaded by the first bundle, not by every command that imports this module (plan, status).
  const { build } = await import('esbuild');
  let result;
  try {
    result = await build({
      entryPoints: [entry],
      absWorkingDir: PACKAGE_ROOT,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      outfile: 'main.mjs',
      write: false,
      external: [...OPTIONAL_DRIVER_DEPENDENCIES],
      banner: { js: REQUIRE_BANNER },
      legalComments: 'none',
      // Unminified: stack traces in the journal stay readable.
      minify: false,
      logLevel: 'silent',
      metafile: true,
    });
  } catch (error) {
    const errors = (error as { errors?: Message[] }).errors ?? [];
    throw new DistctlError('SERVICE_BUNDLE_FAILED', `could not bundle the ${kind} service from ${entry}`, {
      details: errors.slice(0, 10).map(formatMessage),
      hint: 'Fix the errors above in the service sources (`npx tsc --noEmit -p .` shows them too), then deploy again.',
      cause: error,
    });
  }
  const output = result.outputFiles.find((file) => file.path.endsWith('.mjs'));
  if (output === undefined) throw new Error(`esbuild produced no main.mjs for ${entry}`);
  // esbuild names files by their real path; a symlinked tree must be compared the same way.
  const code = normalizeSourceComments(output.text, await realpath(root));
  const bundle = { kind, code, hash: createHash('sha256').update(code).digest('hex') };
  if (cacheFile !== undefined && cache?.readOnly !== true) {
    // What else decides the output: how this module calls esbuild, and esbuild itself.
    const inputs = [
      ...Object.keys(result.metafile.inputs).map((input) => resolve(PACKAGE_ROOT, input)),
      fileURLToPath(import.meta.url),
      createRequire(import.meta.url).resolve('esbuild/package.json'),
    ];
    await writeCachedBundle(cacheFile, inputs, code);
  }
  return bundle;
}

/**
 * A cached bundle's record: each input file's size and mtime when built, the code file (the sibling `.mjs`) among
 * them, and the code's sha256.
 */
const CachedBundle = z.object({
  inputs: z.array(z.tuple([z.string(), z.number(), z.number()])),
  hash: z.string(),
});
type CachedBundle = z.infer<typeof CachedBundle>;

/**
 * The cached bundle when no input changed since it was built (as make and
 * tsc --incremental decide: size and mtime), else null. Bundling the services
 * (express, the driver) takes esbuild most of a second; a no-op `up` must not.
 * The code file is judged the same way and its recorded hash trusted, rather
 * than hashing its megabytes again on every run (~120 ms of CPU): only distctl
 * writes it, by rename, before the record that describes it, in a directory
 * only its owner may write. Whoever could change it there could change the
 * record's hash too, so hashing again guarded against nothing but a change
 * that kept both size and mtime, which the inputs are not guarded against either.
 */
async function readCachedBundle(file: string, kind: ServiceKind): Promise<ServiceBundle | null> {
  const codeFile = file.replace(/\.json$/, '.mjs');
  try {
    const cached = CachedBundle.parse(JSON.parse(await readFile(file, 'utf8')));
    // A record that does not list the code file (written by an older distctl) vouches only for its hash.
    if (!cached.inputs.some(([path]) => path === codeFile)) return null;
    const current = await Promise.all(cached.inputs.map(([path]) => stat(path)));
    const unchanged = cached.inputs.every(
      ([, size, mtimeMs], index) => current[index]?.size === size && current[index]?.mtimeMs === mtimeMs,
    );
    if (!unchanged) return null;
    return { kind, code: await readFile(codeFile, 'utf8'), hash: cached.hash };
  } catch {
    return null; // no cache yet, an input gone, or a damaged file: bundle afresh
  }
}

/**
 * Records a bundle with its inputs' and its own sizes and mtimes; a cache that cannot be written only costs the
 * next run time.
 */
async function writeCachedBundle(file: string, inputs: readonly string[], code: string): Promise<void> {
  const codeFile = file.replace(/\.json$/, '.mjs');
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    // Code first, record last: a record always describes the code next to it.
    const written = await replaceFile(codeFile, code);
    const files = [...inputs, codeFile];
    const stats = [...(await Promise.all(inputs.map((path) => stat(path)))), written];
    const cached: CachedBundle = {
      inputs: files.map((path, index): [string, number, number] => [
        path,
        stats[index]?.size ?? -1,
        stats[index]?.mtimeMs ?? -1,
      ]),
      hash: createHash('sha256').update(code).digest('hex'),
    };
    await replaceFile(file, JSON.stringify(cached));
  } catch {
    // best effort
  }
}

/**
 * Writes a file whole or not at all (readers see the old text or the new one), and returns the size and mtime of
 * what it wrote: taken before the rename, which keeps both, they describe this text even if another run replaces
 * the file right after.
 */
async function replaceFile(path: string, text: string): Promise<Stats> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  const written = await stat(temporary);
  await rename(temporary, path);
  return written;
}

/**
 * esbuild heads each bundled module with a `// path/to/file.ts` comment,
 * relative to the package root. For a copy of the sources elsewhere (say
 * `tmp/patched/services`) those comments alone would make an unchanged
 * service's bundle differ, and restart it. Naming the tree's parent `src/` in
 * them makes the bundle depend only on the sources' content.
 */
function normalizeSourceComments(code: string, root: string): string {
  const parent = relative(PACKAGE_ROOT, dirname(root)).split(sep).join('/');
  if (parent === 'src' || parent === '') return code;
  return code.replaceAll(`\n// ${parent}/`, '\n// src/');
}

function formatMessage(message: Message): string {
  const where = message.location
    ? `${message.location.file}:${message.location.line}:${message.location.column}: `
    : '';
  return `${where}${message.text}`;
}
