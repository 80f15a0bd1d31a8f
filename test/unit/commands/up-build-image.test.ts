import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { upCommand } from '../../../src/commands/up.js';
import { recipeAlias } from '../../../src/image/recipe.js';
import { IncusClient } from '../../../src/incus/client.js';
import type { ImageBuilder } from '../../../src/image/ensure.js';
import { ScriptedRunner } from '../support/scripted-runner.js';

const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
const alias = recipeAlias({ distro: 'debian', suite: 'bookworm' });
const TOPOLOGY = `version: 1
project: up-image-unit
image: { build: debian/bookworm }
network: { name: dupi0, subnet: 10.95.0.0/24, gateway: 10.95.0.1 }
containers:
  - { name: one, ipv4: 10.95.0.10 }
  - { name: two, ipv4: 10.95.0.11 }
`;

let dir = '';
let file = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-up-image-'));
  file = join(dir, 'topology.yaml');
  await writeFile(file, TOPOLOGY);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** An Incus that has nothing yet and refuses to create a container from an alias that does not exist. */
function emptyIncus(present: readonly string[] = []) {
  const images = new Set<string>(present);
  const instances: { name: string; ipv4: string }[] = [];
  const runner = new ScriptedRunner((cmd) => {
    const line = cmd.args.join(' ');
    if (line === 'project list --format json' || line === 'network list --format json') return { stdout: '[]' };
    if (line === `query /1.0/images/aliases/${alias}?project=default`) {
      return images.has(alias)
        ? { stdout: JSON.stringify({ target: 'f'.repeat(64) }) }
        : { exitCode: 1, stderr: 'Error: Image alias not found' };
    }
    if (cmd.args[0] === 'project' || cmd.args[0] === 'network') return {};
    // `--` ends incus' options before the image and instance names, as distctl passes them.
    const [, project, verb, ...operands] = cmd.args;
    const rest = operands[0] === '--' ? operands.slice(1) : operands;
    if (project !== 'up-image-unit') return undefined;
    if (verb === 'create') {
      if (!images.has(rest[0] ?? '')) return { exitCode: 1, stderr: `Error: Image "${rest[0]}" not found` };
      instances.push({ name: rest[1] ?? '', ipv4: String(cmd.input).match(/ipv4\.address: (\S+)/)?.[1] ?? '' });
      return {};
    }
    // The static address written into each container before its start (file, then record).
    if (verb === 'file' || verb === 'start' || (verb === 'config' && rest[0] === 'set')) return {};
    if (verb === 'list') {
      const listed = instances.map((instance) => ({
        name: instance.name,
        status: 'Running',
        config: { 'user.distctl.owner': 'up-image-unit' },
        devices: {},
        state: { network: { eth0: { addresses: [{ family: 'inet', address: instance.ipv4 }] } } },
      }));
      return { stdout: JSON.stringify(listed) };
    }
    return undefined;
  });
  return { runner, images };
}

describe('distctl up with image: { build: debian/bookworm }', () => {
  it('builds the missing image once, before creating the containers from it; a second up reuses it', async () => {
    const { runner, images } = emptyIncus();
    const builds: string[] = [];
    const build: ImageBuilder = async (request) => {
      builds.push(`${request.alias} ${request.suite}`);
      images.add(request.alias);
      return {
        alias: request.alias,
        fingerprint: 'f'.repeat(64),
        sizeBytes: 1,
        seconds: 90,
        mirror: 'm',
        suite: 'bookworm',
        project: 'default',
        replaced: undefined,
      };
    };
    const options = {
      file,
      prune: false,
      client: new IncusClient(runner),
      ui,
      confirm: () => Promise.resolve(true),
      addressTimeoutMs: 5_000,
      concurrency: 2,
      stateDirFor: (project: string) => join(dir, 'state', project),
      buildImage: build,
    };
    const result = await upCommand(options);
    expect(result.exitCode).toBe(0);
    expect(builds).toEqual([`${alias} bookworm`]);
    expect(result.human.split('\n')[0]).toBe(`✔ images: ${alias} built (90 s)`);
    const creates = runner.lines().filter((line) => line.includes(' create -- distctl-'));
    expect(creates).toEqual([
      `incus --project up-image-unit create -- ${alias} one`,
      `incus --project up-image-unit create -- ${alias} two`,
    ]);

    // Containers to create again (say, after `down`): the image is found by its content alias and reused.
    const kept = emptyIncus([alias]);
    const again = await upCommand({ ...options, client: new IncusClient(kept.runner) });
    expect(again.exitCode).toBe(0);
    expect(builds).toHaveLength(1);
    expect(again.human.split('\n')[0]).toBe(`✔ images: ${alias} reused (same recipe)`);
    expect(kept.runner.lines().filter((line) => line.includes(' create -- distctl-'))).toHaveLength(2);
  });
});
