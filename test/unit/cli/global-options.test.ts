import { describe, expect, it } from 'vitest';
import { envelopeOf, runCli } from './run-cli.js';

const bad = 'test/fixtures/topologies/bad/duplicate-ip.yaml';

describe('global options before the command', () => {
  it('distctl -f FILE validate reads FILE', async () => {
    const run = await runCli(['-f', bad, 'validate']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`${bad}: 1 error, 3 warnings\n`);
  });

  it('distctl --json validate answers with the envelope', async () => {
    const run = await runCli(['--json', '-f', bad, 'validate']);
    expect(envelopeOf(run)).toMatchObject({ formatVersion: 1, ok: false, file: bad });
  });

  it("the command's own -f wins over the global one", async () => {
    const run = await runCli(['-f', 'missing.yaml', 'validate', '-f', bad]);
    expect(run.stdout).toBe(`${bad}: 1 error, 3 warnings\n`);
  });

  it('after `logs`, -f still means --follow; the global -f names the topology', async () => {
    const run = await runCli(['-f', 'missing.yaml', 'logs', 'web-server', '-f']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('topology file missing.yaml does not exist');
  });
});

describe('DISTCTL_FILE', () => {
  it('names the topology when no -f is given', async () => {
    const run = await runCli(['validate'], { env: { DISTCTL_FILE: bad } });
    expect(run.stdout).toBe(`${bad}: 1 error, 3 warnings\n`);
  });

  it('gives way to -f, before or after the command', async () => {
    for (const args of [
      ['-f', 'topology.yaml', 'validate'],
      ['validate', '-f', 'topology.yaml'],
    ]) {
      const run = await runCli(args, { env: { DISTCTL_FILE: bad } });
      expect(run.stdout, args.join(' ')).toBe('OK: topology.yaml is valid (3 warnings)\n');
    }
  });

  it('applies to every topology-reading command', async () => {
    const run = await runCli(['plan', '--json'], { env: { DISTCTL_FILE: 'missing-from-env.yaml' } });
    expect(envelopeOf(run).errors).toEqual([
      expect.objectContaining({
        code: 'TOPOLOGY_NOT_FOUND',
        message: 'topology file missing-from-env.yaml does not exist',
      }),
    ]);
  });
});
