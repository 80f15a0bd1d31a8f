// export/import on the live Incus daemon: a deployment written to a bundle,
// removed, and restored with its data, addresses and secrets; refusals that
// change nothing (non-empty target, existing deployment, damaged bundle).
// Own project, bridge and subnet; removed in afterAll even when a check fails.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distctl, incus, incusJson, integrationSkipReason, removeTestResources, testImage } from './support.js';

const PROJECT = 'distctl-it-move';
const BRIDGE = 'ditmove0';
const SUBNET = '10.231.13';

const skipReason = await integrationSkipReason('export/import');
const dir = mkdtempSync(join(tmpdir(), 'distctl-it-move-'));
const env = { DISTCTL_STATE_DIR: join(dir, 'state') };
const cli = (args: string[]) => distctl(args, env);
const bundle = join(dir, 'bundle');
const secretPath = join(dir, 'state', PROJECT, 'secrets', 'jwt-secret');

async function addresses(): Promise<Record<string, string[]>> {
  const listed = await incusJson<
    {
      name: string;
      state?: { network?: Record<string, { addresses: { family: string; address: string }[] }> | null } | null;
    }[]
  >('list', '--project', PROJECT);
  return Object.fromEntries(
    listed.map((instance) => [
      instance.name,
      (instance.state?.network?.eth0?.addresses ?? []).filter((a) => a.family === 'inet').map((a) => a.address),
    ]),
  );
}

describe.skipIf(skipReason !== undefined)('export and import of a deployment', () => {
  const file = join(dir, 'topology.yaml');
  let manifestSha256 = '';

  beforeAll(async () => {
    expect(await removeTestResources(PROJECT, [BRIDGE])).toEqual([]);
    writeFileSync(
      file,
      `version: 1\nproject: ${PROJECT}\nimage: ${testImage}\nnetwork: { name: ${BRIDGE}, subnet: ${SUBNET}.0/24, gateway: ${SUBNET}.1 }\ncontainers:\n  - { name: app, ipv4: ${SUBNET}.10 }\n  - { name: data, ipv4: ${SUBNET}.11 }\n`,
    );
    const up = await cli(['up', '-f', file, '--json']);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    await incus('exec', 'data', '--project', PROJECT, '--', 'sh', '-c', 'echo kept-across-hosts > /root/marker');
    // A deployment secret, as the database and service stages would have generated it.
    mkdirSync(join(dir, 'state', PROJECT, 'secrets'), { recursive: true, mode: 0o700 });
    writeFileSync(secretPath, 'a-secret-value', { mode: 0o600 });
  });

  afterAll(async () => {
    const problems = await removeTestResources(PROJECT, [BRIDGE]);
    rmSync(dir, { recursive: true, force: true });
    expect(problems).toEqual([]);
  });

  it('exports every container, the topology and the secrets into a private bundle', async () => {
    const run = await cli(['export', '-f', file, '-o', bundle, '--compression', 'none', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    manifestSha256 = (run.json as { manifestSha256: string }).manifestSha256;
    const manifest = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')) as {
      project: string;
      containers: { name: string; file: string; bytes: number }[];
    };
    expect(manifest.project).toBe(PROJECT);
    expect(manifest.containers.map((entry) => [entry.name, entry.file])).toEqual([
      ['app', 'app.tar'],
      ['data', 'data.tar'],
    ]);
    expect(statSync(bundle).mode & 0o777).toBe(0o700);
    expect(statSync(join(bundle, 'secrets', 'jwt-secret')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(bundle, 'secrets', 'jwt-secret'), 'utf8')).toBe('a-secret-value');
    expect(run.stdout).not.toContain('a-secret-value');
    expect(readFileSync(join(bundle, 'topology.yaml'), 'utf8')).toBe(readFileSync(file, 'utf8'));
  });

  it('never overwrites a bundle, and never imports over a live deployment', async () => {
    const again = await cli(['export', '-f', file, '-o', bundle]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('exists and is not empty');
    const over = await cli(['import', bundle, '--manifest-sha256', manifestSha256]);
    expect(over.code).toBe(1);
    expect(over.stderr).toContain(`project ${PROJECT} already has app, data on this host; nothing was changed`);
  });

  it('refuses a damaged bundle before changing anything', async () => {
    const down = await cli(['down', '-f', file, '--yes']);
    expect(down.code, down.stderr).toBe(0);
    expect(existsSync(secretPath)).toBe(false);
    const damaged = join(dir, 'damaged');
    mkdirSync(damaged);
    for (const name of ['manifest.json', 'topology.yaml', 'secrets', 'app.tar'])
      symlinkSync(join(bundle, name), join(damaged, name));
    writeFileSync(join(damaged, 'data.tar'), 'not a backup');
    const run = await cli(['import', damaged, '--manifest-sha256', manifestSha256]);
    expect(run.code).toBe(1);
    // A bundle is read only as regular files: the linked manifest is refused before anything else is read.
    expect(run.stderr).toContain(
      `${join(damaged, 'manifest.json')} is a symbolic link, not a regular file; nothing was changed`,
    );
    expect((await incusJson<{ name: string }[]>('project', 'list')).map((project) => project.name)).not.toContain(
      PROJECT,
    );
  });

  it('restores the deployment with its data, addresses and secrets', async () => {
    const run = await cli(['import', bundle, '--json', '--manifest-sha256', manifestSha256]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(await addresses()).toEqual({ app: [`${SUBNET}.10`], data: [`${SUBNET}.11`] });
    expect((await incus('exec', 'data', '--project', PROJECT, '--', 'cat', '/root/marker')).trim()).toBe(
      'kept-across-hosts',
    );
    expect(readFileSync(secretPath, 'utf8')).toBe('a-secret-value');
    expect(statSync(secretPath).mode & 0o777).toBe(0o600);
    const plan = await cli(['plan', '-f', join(bundle, 'topology.yaml'), '--json']);
    expect(plan.json).toMatchObject({ changes: 0 });
    const down = await cli(['down', '-f', join(bundle, 'topology.yaml'), '--yes']);
    expect(down.code, down.stderr).toBe(0);
  });
});
