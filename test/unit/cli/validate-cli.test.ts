import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const bin = join(root, 'bin/distctl');

function distctl(...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('distctl validate (the built CLI)', () => {
  beforeAll(() => {
    if (!existsSync(join(root, 'dist/cli/main.js'))) execFileSync('npx', ['tsc', '-p', root], { cwd: root });
  });

  it('accepts the repository topology and prints its warnings', () => {
    const run = distctl('validate');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('OK: ./topology.yaml is valid (3 warnings)');
    expect(run.stdout).toContain('warning: ./topology.yaml:');
  });

  it('rejects a bad fixture with exit 1, file:line:column, YAML path, and no stack trace', () => {
    const run = distctl('validate', '-f', 'test/fixtures/topologies/bad/duplicate-ip.yaml');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^error: test\/fixtures\/topologies\/bad\/duplicate-ip\.yaml:\d+:\d+ containers\[3\]\.ipv4: address 10\.10\.10\.12 is already assigned to db1/m);
    expect(run.stdout + run.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports problems as JSON with --json', () => {
    const run = distctl('validate', '-f', 'test/fixtures/topologies/bad/range-gap.yaml', '--json');
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; errors: { code: string; path: unknown[]; line: number }[] };
    expect(report.ok).toBe(false);
    expect(report.errors[0]).toMatchObject({ code: 'range-gap', path: ['sharding', 'ranges'] });
  });

  it('says what to do when the file does not exist', () => {
    const run = distctl('validate', '-f', 'no-such-topology.yaml');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: topology file no-such-topology.yaml does not exist');
    expect(run.stderr).toContain('hint: ');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 on an unknown command and prints the version', () => {
    expect(distctl('frobnicate').code).toBe(2);
    const version = distctl('--version');
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
