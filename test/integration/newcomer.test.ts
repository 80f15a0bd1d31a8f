// A newcomer's first run of the reference topology, as the README tells it,
// on the live Incus daemon: the repository's own topology.yaml (image built by
// distctl from the host's Debian mirror, MongoDB from MongoDB's repository,
// which this host cannot reach), moved to its own project, bridge, subnet and
// host port. Before `up`: status says "not deployed" (exit 3) and plan lists
// everything (exit 2). `up` builds or reuses the image, brings up the five
// containers, the services and the dashboard proxy, and fails only at the
// MongoDB install, in one line. status then tells the truth; down leaves
// nothing but the shared, content-addressed image.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recipeAlias } from '../../src/image/recipe.js';
import {
  distctl,
  incus,
  incusJson,
  integrationSkipReason,
  removeTestResources,
  repoRoot,
  type CliRun,
} from './support.js';
import { portForServerWithoutPortZero } from '../support/ports.js';

const PROJECT = 'distctl-it-newcomer';
const BRIDGE = 'ditnew0';
const SUBNET = '10.231.14';
const CONTAINERS = ['auth-server', 'web-server', 'db1', 'db2', 'db3'];

const skipReason = await integrationSkipReason('newcomer');
const dir = mkdtempSync(join(tmpdir(), 'distctl-it-newcomer-'));
const env = { DISTCTL_STATE_DIR: join(dir, 'state') };

/** The reference topology, moved out of the way of anything else on this host. */
function writeTopology(port: number): string {
  const reference = readFileSync(join(repoRoot, 'topology.yaml'), 'utf8');
  const moved = reference
    .replace(/^project: distctl$/m, `project: ${PROJECT}`)
    .replace(/^ {2}name: incusbr0$/m, `  name: ${BRIDGE}`)
    .replace(/10\.10\.10\./g, `${SUBNET}.`)
    .replace('listen: 127.0.0.1:3000', `listen: 127.0.0.1:${port}`);
  for (const expected of [
    `project: ${PROJECT}`,
    `name: ${BRIDGE}`,
    `listen: 127.0.0.1:${port}`,
    'image: { build: debian/bookworm }',
    'source: repository',
  ]) {
    if (!moved.includes(expected))
      throw new Error(`the reference topology changed shape: "${expected}" missing after the move`);
  }
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, moved);
  return file;
}

function transcript(run: CliRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

/** Our subnet must be free on this host: no route and no Incus network in it. */
async function assertSubnetFree(): Promise<void> {
  const networks = await incusJson<{ name: string; config: Record<string, string> }[]>('network', 'list');
  const taken = networks.filter(
    (network) => network.name !== BRIDGE && (network.config['ipv4.address'] ?? '').startsWith(`${SUBNET}.`),
  );
  if (taken.length > 0)
    throw new Error(`${SUBNET}.0/24 is used by ${taken.map((network) => network.name).join(', ')} on this host`);
}

describe.skipIf(skipReason !== undefined)("a newcomer's first hour: the reference topology end to end", () => {
  let file = '';
  let port = 0;
  let up: CliRun;
  let upSeconds = 0;

  beforeAll(async () => {
    const leftovers = await removeTestResources(PROJECT, [BRIDGE]);
    if (leftovers.length > 0) throw new Error(`cannot clear leftovers of an earlier run:\n${leftovers.join('\n')}`);
    await assertSubnetFree();
    port = await portForServerWithoutPortZero();
    file = writeTopology(port);
  });

  afterAll(async () => {
    const problems = await removeTestResources(PROJECT, [BRIDGE]);
    rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`cleanup left resources behind:\n${problems.join('\n')}`);
  });

  it('before up: status says "not deployed" with exit 3 and writes nothing; plan lists everything with exit 2', async () => {
    const status = await distctl(['status', '-f', file], env);
    expect(status.code, transcript(status)).toBe(3);
    expect(status.stdout.trim()).toBe(`project ${PROJECT}: not deployed — run \`distctl up\``);
    const plan = await distctl(['plan', '-f', file, '--detailed-exitcode'], env);
    expect(plan.code, transcript(plan)).toBe(2);
    expect(plan.stdout).toContain(
      `+ container db3 (image ${recipeAlias({ distro: 'debian', suite: 'bookworm' })}, eth0 ${SUBNET}.14 on ${BRIDGE})`,
    );
    expect(plan.stdout).toContain("+ db1: install MongoDB 7.0 from MongoDB's apt repository");
    expect(plan.stdout).toContain('+ web-server on web-server: write /usr/local/bin/node');
    expect(existsSync(env.DISTCTL_STATE_DIR)).toBe(false);
  });

  it('up builds or reuses the image, brings up the five containers, the services and the proxy; only MongoDB fails, in one line', async () => {
    const started = Date.now();
    up = await distctl(['up', '-f', file, '--yes'], env);
    upSeconds = (Date.now() - started) / 1000;
    console.log(`newcomer: up took ${upSeconds.toFixed(0)} s`);
    expect(up.code, transcript(up)).toBe(1);
    const stageLines = up.stdout.split('\n').filter((line) => /^[✔✖-] \w+: /.test(line));
    expect(
      stageLines.map((line) => line.slice(0, line.indexOf(':'))),
      transcript(up),
    ).toEqual(['✔ images', '✔ containers', '✖ databases', '✔ services']);
    expect(stageLines[0]).toMatch(
      /^✔ images: distctl-debian-bookworm-[0-9a-f]{12} (built \(\d+ s\)|reused \(same recipe\))$/,
    );
    expect(stageLines[1]).toMatch(/^✔ containers: 5 running with their declared addresses/);
    expect(stageLines[2]).toMatch(
      // Here the repository is out of reach, which the check before apt finds from one container; where it can be
      // reached but the install breaks, the failing step is named instead.
      /^✖ databases: (MongoDB's repository cannot be reached from container db\d: .*apt was not run in any container\.$|Installing MongoDB in container db\d failed at step \d+\/\d+, "[^"]+": )/,
    );
    expect(up.stdout).toContain('up: 1 stage failed: databases');
    expect(`${up.stdout}\n${up.stderr}`).not.toMatch(/internal error|^\s+at .+:\d+:\d+\)?$/m);

    const instances = await incusJson<{ name: string; status: string }[]>('list', '--project', PROJECT);
    const byName = (a: string, b: string) => a.localeCompare(b);
    expect(instances.map((instance) => `${instance.name} ${instance.status}`).sort(byName)).toEqual(
      CONTAINERS.map((name) => `${name} Running`).sort(byName),
    );
    const health = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(10_000) });
    expect(health.status).toBe(200);
    const dashboard = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(10_000) });
    expect(dashboard.status).toBe(200);
  });

  it('status then shows the truth: all five containers at their addresses, the services healthy, MongoDB not installed', async () => {
    const status = await distctl(['status', '-f', file, '--json'], env);
    expect(status.code, transcript(status)).toBe(1);
    const json = status.json as {
      deployed: boolean;
      containers: { name: string; state: string; ipOk: boolean; units: { name: string; load: string }[] }[];
      services: { name: string; health: { ok: boolean } }[];
      differences: string[];
    };
    expect(json.deployed).toBe(true);
    expect(json.containers.map((container) => [container.name, container.state, container.ipOk])).toEqual(
      CONTAINERS.map((name) => [name, 'Running', true]),
    );
    expect(json.services.map((service) => [service.name, service.health.ok])).toEqual([
      ['auth-server', true],
      ['web-server', true],
    ]);
    expect(json.differences.some((difference) => /^db1: mongod-27017\.service is /.test(difference))).toBe(true);
    expect(json.differences.some((difference) => /^replica set rsA unreachable: /.test(difference))).toBe(true);
  });

  it('plan after up: Incus and the services match; what is left is the databases stage, read from the containers', async () => {
    const plan = await distctl(['plan', '-f', file, '--detailed-exitcode'], env);
    expect(plan.code, transcript(plan)).toBe(2);
    const lines = plan.stdout.trim().split('\n');
    // No Incus action, no image, nothing for the services: they were deployed with the same hashes.
    expect(lines[0], transcript(plan)).toBe('databases');
    expect(lines).not.toContain('services');
    expect(lines).toContain("+ db1: install MongoDB 7.0 from MongoDB's apt repository");
    // The configs and units were written before the install failed; only their start is left.
    expect(lines).toContain('~ db1: start mongod-27017.service, mongod-27018.service, mongod-27019.service');
    expect(lines.some((line) => line.startsWith('~ db1: write'))).toBe(false);
    expect(lines.some((line) => line.startsWith('+ replica set rsA: initiate with '))).toBe(true);
    expect(lines.at(-1)).toMatch(/^Plan: \d+ changes \(0 in Incus, \d+ in the databases and services\) in project /);
  });

  it('down leaves nothing of the deployment (the content-addressed image stays, shared)', async () => {
    const down = await distctl(['down', '-f', file, '--yes'], env);
    expect(down.code, transcript(down)).toBe(0);
    const projects = await incusJson<{ name: string }[]>('project', 'list');
    expect(projects.map((project) => project.name)).not.toContain(PROJECT);
    const networks = await incusJson<{ name: string }[]>('network', 'list');
    expect(networks.map((network) => network.name)).not.toContain(BRIDGE);
    expect(existsSync(join(env.DISTCTL_STATE_DIR, PROJECT))).toBe(false);
    const alias = recipeAlias({ distro: 'debian', suite: 'bookworm' });
    expect(
      (await incus('image', 'alias', 'list', '--format', 'csv'))
        .split('\n')
        .some((line) => line.startsWith(`${alias},`)),
    ).toBe(true);
    const after = await distctl(['status', '-f', file], env);
    expect(after.code, transcript(after)).toBe(3);
  });
});
