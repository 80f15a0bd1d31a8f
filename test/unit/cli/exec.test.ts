import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LOGIN_SHELL } from '../../../src/commands/exec.js';
import { runCli } from './run-cli.js';

/** Records what would be run attached to the terminal, and answers with an exit code. */
function recorder(exitCode = 0): { calls: string[][]; run: (argv: readonly string[]) => Promise<number> } {
  const calls: string[][] = [];
  return { calls, run: async (argv) => (calls.push([...argv]), exitCode) };
}

describe('distctl exec', () => {
  it("runs the command in the container, in the deployment's project, and passes its options through", async () => {
    const terminal = recorder();
    const run = await runCli(['exec', 'db1', '--', 'ls', '-la', '/var/lib'], { interactive: terminal.run });
    expect(run.code).toBe(0);
    expect(terminal.calls).toEqual([['incus', '--project', 'distctl', 'exec', 'db1', '--', 'ls', '-la', '/var/lib']]);
    expect(run.stdout).toBe('');
  });

  it("exits with the command's own exit code", async () => {
    const run = await runCli(['exec', 'web-server', '--', 'false'], { interactive: recorder(3).run });
    expect(run.code).toBe(3);
  });

  it('uses the project of the topology given with -f', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'distctl-exec-')), 'topology.yaml');
    writeFileSync(file, readFileSync('topology.yaml', 'utf8').replace('project: distctl', 'project: shop-staging'));
    const terminal = recorder();
    await runCli(['-f', file, 'exec', 'db2', '--', 'true'], { interactive: terminal.run });
    expect(terminal.calls).toEqual([['incus', '--project', 'shop-staging', 'exec', 'db2', '--', 'true']]);
  });

  it('refuses a container the topology does not have, listing those it has', async () => {
    const terminal = recorder();
    const run = await runCli(['exec', 'db9', '--', 'true'], { interactive: terminal.run });
    expect(run.code).toBe(1);
    expect(terminal.calls).toEqual([]);
    expect(run.stderr).toContain('error: container "db9" is not in ./topology.yaml');
    expect(run.stderr).toContain('hint: Name one of: auth-server, web-server, db1, db2, db3.');
  });
});

describe('distctl shell', () => {
  it("opens a login shell in the container, in the deployment's project", async () => {
    const terminal = recorder();
    const run = await runCli(['shell', 'auth-server'], { interactive: terminal.run });
    expect(run.code).toBe(0);
    expect(terminal.calls).toEqual([['incus', '--project', 'distctl', 'exec', 'auth-server', '--', ...LOGIN_SHELL]]);
  });
});
