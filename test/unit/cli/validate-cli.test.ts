import { describe, expect, it } from 'vitest';
import { envelopeOf, runCli } from './run-cli.js';

// In-process: these run the current src/, never a built dist/ (a rule turned into a warning in src/ fails here).
describe('distctl validate (in-process)', () => {
  it('accepts the repository topology: verdict on stdout, warnings on stderr', async () => {
    const run = await runCli(['validate']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('OK: ./topology.yaml is valid (3 warnings)\n');
    expect(run.stderr).toMatch(/^warning: \.\/topology\.yaml:\d+:\d+ /m);
  });

  it('rejects a bad fixture with exit 1, file:line:column and YAML path on stderr, and no stack trace', async () => {
    const run = await runCli(['validate', '-f', 'test/fixtures/topologies/bad/duplicate-ip.yaml']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^error: test\/fixtures\/topologies\/bad\/duplicate-ip\.yaml:\d+:\d+ containers\[3\]\.ipv4: address 10\.10\.10\.12 is already assigned to db1/m,
    );
    expect(run.stdout).toBe('test/fixtures/topologies/bad/duplicate-ip.yaml: 1 error, 3 warnings\n');
    expect(run.stdout + run.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports problems in the JSON envelope with --json', async () => {
    const run = await runCli(['validate', '-f', 'test/fixtures/topologies/bad/range-gap.yaml', '--json']);
    expect(run.code).toBe(1);
    const report = envelopeOf(run);
    expect(report).toMatchObject({ formatVersion: 1, ok: false, file: 'test/fixtures/topologies/bad/range-gap.yaml' });
    expect(report.errors[0]).toMatchObject({
      code: 'RANGE_GAP',
      path: ['sharding', 'ranges'],
      file: 'test/fixtures/topologies/bad/range-gap.yaml',
    });
    expect(run.stderr).toBe('');
  });

  it('says what to do when the file does not exist', async () => {
    const run = await runCli(['validate', '-f', 'no-such-topology.yaml']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: topology file no-such-topology.yaml does not exist');
    expect(run.stderr).toContain('hint: ');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 on an unknown command and prints the version', async () => {
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'frobnicate'");
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
