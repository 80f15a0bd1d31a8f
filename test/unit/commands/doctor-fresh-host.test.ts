import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { doctorCommand } from '../../../src/commands/doctor.js';
import { DistctlError } from '../../../src/errors/index.js';
import type { CommandSpec } from '../../../src/exec/runner.js';
import { recipeAlias } from '../../../src/image/recipe.js';
import { IncusClient } from '../../../src/incus/client.js';
import { ScriptedRunner } from '../support/scripted-runner.js';

const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });

const TOPOLOGY = `
version: 1
project: doctor-unit
image: debian12-distctl
network: { name: ddoc0, subnet: 10.97.0.0/24, gateway: 10.97.0.1 }
containers:
  - { name: app, ipv4: 10.97.0.10 }
`;

let dir = '';
let file = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-doctor-'));
  file = join(dir, 'topology.yaml');
  await writeFile(file, TOPOLOGY);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/**
 * A Debian host without Incus: `incus` cannot be started (as execa reports a
 * missing binary) until bin/ensure-incus.sh has run; then Incus answers with a
 * daemon, a pool, a root disk, no other network and the image.
 */
function freshHost(options: { scriptSucceeds: boolean; images?: () => string[] }) {
  let installed = false;
  const runner = new ScriptedRunner((cmd: CommandSpec) => {
    if (cmd.bin === 'bash' && cmd.args[0]?.endsWith('bin/ensure-incus.sh')) {
      installed = options.scriptSucceeds;
      return options.scriptSucceeds
        ? { stdout: '[ensure-incus] done\n' }
        : { exitCode: 1, stderr: '[ensure-incus] ERROR: must run as root\n' };
    }
    if (cmd.bin === 'ip') return { stdout: '[]' };
    if (cmd.bin !== 'incus') return undefined;
    if (!installed) throw new DistctlError('BINARY_NOT_FOUND', '`incus` is not installed or not on PATH.');
    const line = cmd.args.join(' ');
    if (line === 'version') return { stdout: 'Client version: 6.0.4\nServer version: 6.0.4\n' };
    if (line === 'query /1.0') return { stdout: '{}' };
    if (line === 'storage list --format json')
      return { stdout: JSON.stringify([{ name: 'default', driver: 'btrfs' }]) };
    if (line === 'query /1.0/profiles/default')
      return { stdout: JSON.stringify({ devices: { root: { type: 'disk', path: '/', pool: 'default' } } }) };
    if (line === 'network list --format json') return { stdout: '[]' };
    if (line === 'image list --format json') {
      const aliases = options.images?.() ?? ['debian12-distctl'];
      return {
        stdout: JSON.stringify(
          aliases.map((name, index) => ({ fingerprint: String(index).repeat(64), aliases: [{ name }] })),
        ),
      };
    }
    return undefined;
  });
  return runner;
}

describe('distctl doctor on a host without the incus binary', () => {
  it('marks the missing binary repairable, and --fix installs Incus with bin/ensure-incus.sh, then finds the host ready', async () => {
    const runner = freshHost({ scriptSucceeds: true });
    const result = await doctorCommand({ file, fix: true, client: new IncusClient(runner), runner, ui });
    expect(runner.calls.filter((cmd) => cmd.bin === 'bash')).toHaveLength(1);
    expect(result.json).toMatchObject({
      ok: true,
      repaired: ['host prepared with bin/ensure-incus.sh (nothing changed)'],
    });
    expect(result.exitCode).toBe(0);
    expect(result.human).toContain('The host is ready.');
  });

  it('without --fix says it is fixable and runs nothing', async () => {
    const runner = freshHost({ scriptSucceeds: true });
    const result = await doctorCommand({ file, fix: false, client: new IncusClient(runner), runner, ui });
    expect(result.exitCode).toBe(1);
    expect(runner.calls.filter((cmd) => cmd.bin === 'bash')).toHaveLength(0);
    expect(result.human).toContain('✖ incus binary: incus is not installed or not on PATH');
    expect(result.human).toContain('`distctl doctor --fix` (as root) repairs the ones marked fixable.');
  });

  it("reports a failed installation as a clear error with the script's last lines", async () => {
    const runner = freshHost({ scriptSucceeds: false });
    const error = await doctorCommand({ file, fix: true, client: new IncusClient(runner), runner, ui }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('HOST_PREPARATION_FAILED');
    expect((error as DistctlError).details).toEqual(['[ensure-incus] ERROR: must run as root']);
  });
});

describe('distctl doctor --fix with image: { build: debian/bookworm }', () => {
  it('installs Incus, then builds the recipe image under its content alias, and finds the host ready', async () => {
    const buildFile = join(dir, 'build.yaml');
    await writeFile(buildFile, TOPOLOGY.replace('image: debian12-distctl', 'image: { build: debian/bookworm }'));
    const alias = recipeAlias({ distro: 'debian', suite: 'bookworm' });
    const built: string[] = [];
    const runner = freshHost({ scriptSucceeds: true, images: () => built });
    const before = await doctorCommand({
      file: buildFile,
      fix: false,
      client: new IncusClient(freshHost({ scriptSucceeds: true })),
      runner,
      ui,
    });
    expect(before.exitCode).toBe(1);
    const result = await doctorCommand({
      file: buildFile,
      fix: true,
      client: new IncusClient(runner),
      runner,
      ui,
      buildImage: async (request) => {
        built.push(request.alias);
        expect(request.suite).toBe('bookworm');
        return {
          alias: request.alias,
          fingerprint: 'f'.repeat(64),
          sizeBytes: 1,
          seconds: 81,
          mirror: 'm',
          suite: 'bookworm',
          project: 'default',
          replaced: undefined,
        };
      },
    });
    expect(built).toEqual([alias]);
    expect(result.json).toMatchObject({
      ok: true,
      repaired: ['host prepared with bin/ensure-incus.sh (nothing changed)', `image ${alias} built (81 s)`],
    });
    expect(result.human).toContain(`✔ image ${alias}: built by distctl from debian/bookworm, available locally`);
  });
});
