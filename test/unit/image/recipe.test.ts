import { describe, expect, it } from 'vitest';
import { applyPlan } from '../../../src/apply/index.js';
import { deriveDesiredState } from '../../../src/derive/index.js';
import { DistctlError } from '../../../src/errors/index.js';
import { IMAGE_PACKAGES } from '../../../src/image/content.js';
import { ensureRecipeImages, recipeImages } from '../../../src/image/ensure.js';
import { parseRecipe, recipeAlias, recipeDigest } from '../../../src/image/recipe.js';
import { IncusClient } from '../../../src/incus/client.js';
import { planUp } from '../../../src/plan/index.js';
import { parseTopology } from '../../../src/topology/load.js';
import type { Topology } from '../../../src/topology/schema.js';
import { ScriptedRunner } from '../support/scripted-runner.js';

const TOPOLOGY = (image: string, containerImage = '') => `version: 1
project: recipe-unit
image: ${image}
network: { name: drec0, subnet: 10.96.0.0/24, gateway: 10.96.0.1 }
containers:
  - { name: a, ipv4: 10.96.0.10 }
  - { name: b, ipv4: 10.96.0.11${containerImage ? `, image: ${containerImage}` : ''} }
  - { name: c, ipv4: 10.96.0.12 }
`;

function topology(text: string): Topology {
  const report = parseTopology(text, 'topology.yaml');
  if (report.topology === null) throw new Error(JSON.stringify(report.errors));
  return report.topology;
}

describe('image: { build: debian/SUITE } in the topology', () => {
  it('derives a content-addressed alias that every container of the recipe shares', () => {
    const desired = deriveDesiredState(topology(TOPOLOGY('{ build: debian/bookworm }', 'images:ubuntu/22.04')));
    const alias = recipeAlias({ distro: 'debian', suite: 'bookworm' });
    expect(alias).toMatch(/^distctl-debian-bookworm-[0-9a-f]{12}$/);
    expect(
      desired.containers.map((container) => [container.name, container.image, container.imageBuild?.suite ?? null]),
    ).toEqual([
      ['a', alias, 'bookworm'],
      ['b', 'images:ubuntu/22.04', null],
      ['c', alias, 'bookworm'],
    ]);
    expect(recipeImages(desired.containers)).toEqual([
      { alias, recipe: { distro: 'debian', suite: 'bookworm' }, containers: ['a', 'c'] },
    ]);
  });

  it('names the same image for the same recipe, another for another suite', () => {
    expect(recipeDigest({ distro: 'debian', suite: 'bookworm' })).toBe(
      recipeDigest({ distro: 'debian', suite: 'bookworm' }),
    );
    expect(recipeAlias({ distro: 'debian', suite: 'trixie' })).not.toBe(
      recipeAlias({ distro: 'debian', suite: 'bookworm' }),
    );
    expect(parseRecipe('debian/bookworm')).toEqual({ distro: 'debian', suite: 'bookworm' });
    expect(parseRecipe('ubuntu/jammy')).toBeUndefined();
    // The package list is part of the content: the digest covers it.
    expect(IMAGE_PACKAGES).toContain('isc-dhcp-client');
  });

  it('rejects an unbuildable recipe with file:line and the accepted forms', () => {
    const report = parseTopology(TOPOLOGY('{ build: ubuntu/22.04 }'), 'topology.yaml');
    expect(report.topology).toBeNull();
    expect(report.errors).toEqual([
      expect.objectContaining({
        path: ['image', 'build'],
        location: { file: 'topology.yaml', line: 3, column: 10 },
        message: 'must be debian/SUITE, one of debian/bullseye, debian/bookworm, debian/trixie (got "ubuntu/22.04")',
      }),
    ]);
    const typo = parseTopology(TOPOLOGY('{ biuld: debian/bookworm }'), 'topology.yaml');
    expect(typo.errors.length).toBeGreaterThan(0);
    expect(typo.errors.every((problem) => problem.location?.line === 3)).toBe(true);
  });
});

describe('ensureRecipeImages', () => {
  const desired = deriveDesiredState(topology(TOPOLOGY('{ build: debian/bookworm }')));
  const alias = desired.containers[0]!.image;

  function incus(present: boolean) {
    return new ScriptedRunner((cmd) => {
      const line = [cmd.bin, ...cmd.args].join(' ');
      if (line === `incus query /1.0/images/aliases/${alias}?project=default`) {
        return present
          ? { stdout: JSON.stringify({ name: alias, target: 'f'.repeat(64) }) }
          : { exitCode: 1, stderr: 'Error: Image alias not found' };
      }
      return undefined;
    });
  }

  it('builds a missing image once for all its containers, with progress', async () => {
    const builds: { alias: string; suite: string | undefined }[] = [];
    const progress: string[] = [];
    const outcomes = await ensureRecipeImages(desired.containers, {
      client: new IncusClient(incus(false)),
      build: async (options) => {
        builds.push({ alias: options.alias, suite: options.suite });
        options.onProgress?.('debootstrap bookworm');
        return {
          alias: options.alias,
          fingerprint: 'f'.repeat(64),
          sizeBytes: 1,
          seconds: 80,
          mirror: 'm',
          suite: 'bookworm',
          project: 'default',
          replaced: undefined,
        };
      },
      onProgress: (message) => progress.push(message),
    });
    expect(builds).toEqual([{ alias, suite: 'bookworm' }]);
    expect(outcomes).toEqual([{ alias, outcome: 'built', seconds: 80 }]);
    expect(progress).toEqual([
      `image ${alias} (debian/bookworm): building with debootstrap, once per recipe`,
      `image ${alias} (debian/bookworm): debootstrap bookworm`,
    ]);
  });

  it('reuses an image whose alias (its content digest) exists, building nothing', async () => {
    const runner = incus(true);
    const outcomes = await ensureRecipeImages(desired.containers, {
      client: new IncusClient(runner),
      build: () => Promise.reject(new Error('must not build')),
    });
    expect(outcomes).toEqual([{ alias, outcome: 'reused', seconds: null }]);
    expect(runner.calls).toHaveLength(1);
  });
});

describe('applyPlan when several containers fail for one cause', () => {
  it('says it once and lists the containers', async () => {
    const desired = deriveDesiredState(topology(TOPOLOGY('images:ubuntu/22.04')));
    const runner = new ScriptedRunner((cmd) =>
      cmd.args[0] === '--project' && cmd.args[2] === 'create'
        ? {
            exitCode: 1,
            stderr:
              "Error: Failed getting remote image info: Failed getting image: The requested image couldn't be found",
          }
        : {},
    );
    const failed: string[] = [];
    const error = await applyPlan(
      new IncusClient(runner),
      planUp(desired, { project: null, networks: [], instances: [] }),
      {
        onProgress: (event) => (event.event === 'fail' ? failed.push(event.message) : undefined),
      },
    ).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).message).toBe(
      "containers a, b, c: image not available: Error: Failed getting remote image info: Failed getting image: The requested image couldn't be found",
    );
    expect((error as DistctlError).details).toEqual([]);
    expect(failed).toEqual([(error as DistctlError).message]);
  });
});
