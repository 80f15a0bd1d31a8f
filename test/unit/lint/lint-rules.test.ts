// The lint step's rules, run for real (oxlint with type information and distctl's own plugin) on a
// scratch tree of small sources, each breaking exactly one rule. A rule that stops firing fails here.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

const repo = resolve(import.meta.dirname, '../../..');
const sources: Record<string, string> = {
  'src/plan/floating.ts':
    'export async function save(): Promise<void> {}\nexport function go(): void {\n  save();\n}\n',
  'src/plan/misused.ts':
    'export function go(list: number[]): number[] {\n  return list.filter(async (n) => n > 1);\n}\n',
  'src/plan/cast.ts': 'export const parsed = JSON.parse(\'{"a":1}\') as { a: number };\n',
  'src/plan/cast-json.ts':
    'export async function read(r: Response): Promise<{ a: number }> {\n  return (await r.json()) as { a: number };\n}\n',
  'src/plan/widen-ok.ts': "export const parsed = JSON.parse('1') as unknown;\n",
  'src/plan/into-cli.ts': "import type { Thing } from '../cli/thing.js';\nexport type Same = Thing;\n",
  'src/cli/thing.ts': 'export interface Thing {\n  readonly a: number;\n}\n',
  'src/cli/uses-plan.ts': "import type { Same } from '../plan/into-cli.js';\nexport type Again = Same;\n",
  'src/services/web/out.ts': "import { Thing2 } from '../../errors/thing2.js';\nexport const t = Thing2;\n",
  'src/services/web/inside.ts': "import { shared } from '../shared/shared.js';\nexport const s = shared;\n",
  'src/services/shared/shared.ts': 'export const shared = 1;\n',
  'src/errors/thing2.ts': 'export const Thing2 = 2;\n',
};

const Report = z.object({ diagnostics: z.array(z.object({ code: z.string(), filename: z.string() })) });
let dir = '';
let found: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'distctl-lint-'));
  for (const [file, text] of Object.entries(sources)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  const config = z
    .object({ jsPlugins: z.array(z.string()) })
    .loose()
    .parse(JSON.parse(readFileSync(join(repo, '.oxlintrc.json'), 'utf8')));
  config.jsPlugins = config.jsPlugins.map((plugin) => resolve(repo, plugin));
  writeFileSync(join(dir, '.oxlintrc.json'), JSON.stringify({ ...config, $schema: undefined }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', lib: ['ES2022', 'DOM'] },
      include: ['src'],
    }),
  );
  const oxlint = join(repo, 'node_modules', '.bin', 'oxlint');
  const run = await promisify(execFile)(oxlint, ['--type-aware', '-f', 'json'], { cwd: dir }).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  found = Report.parse(JSON.parse(run.stdout))
    .diagnostics.map((d) => `${d.filename.replace(/\\/g, '/')} ${d.code}`)
    .sort();
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the lint step', () => {
  it('reports exactly the broken rules in the scratch tree, and nothing in the files that keep them', () => {
    expect(found).toEqual([
      'src/plan/cast-json.ts distctl(no-unchecked-parse)',
      'src/plan/cast.ts distctl(no-unchecked-parse)',
      'src/plan/floating.ts typescript(no-floating-promises)',
      'src/plan/into-cli.ts distctl(import-boundaries)',
      'src/plan/misused.ts typescript(no-misused-promises)',
      'src/services/web/out.ts distctl(import-boundaries)',
    ]);
  });
});
