import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { loadDeployment } from '../../../src/commands/context.js';
import { exportCommand } from '../../../src/commands/export.js';
import { importCommand, type ImportOptions } from '../../../src/commands/import.js';
import { DistctlError } from '../../../src/errors/index.js';
import { distctlInstance, FakeIncus, writeBackup, type BackupInstance } from './fake-incus.js';

const PROJECT = 'xfer-unit';
const BRIDGE = 'dxfer0';
const TOPOLOGY = `version: 1
project: ${PROJECT}
image: debian12-distctl
network: { name: ${BRIDGE}, subnet: 10.97.0.0/24, gateway: 10.97.0.1 }
containers:
  - { name: app, ipv4: 10.97.0.10 }
  - { name: data, ipv4: 10.97.0.11 }
expose:
  - { container: app, port: 3000, listen: 127.0.0.1:3900 }
`;
const SECRET = 'the-jwt-secret-value';
const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });

let dir: string;
let topologyFile: string;
let keyFile: string;
let savedTmp: string | undefined;
/** TMPDIR for this test, to check that import leaves nothing there. */
let tmp: string;
/** Where import stages bundles: `staging/` beside the deployments' state directories. */
let staging: string;

const stateDirFor = (project: string): string => join(dir, 'host-b-state', project);

/** Backups as distctl's own containers look: eth0 on the bridge and, for app, the declared proxy. */
async function cleanInstances(): Promise<Map<string, BackupInstance>> {
  const { desired } = await loadDeployment(topologyFile);
  const proxy = desired.proxies[0]!;
  return new Map([
    [
      'app',
      distctlInstance(PROJECT, 'app', BRIDGE, '10.97.0.10', {
        [proxy.device]: { type: 'proxy', listen: proxy.listen, connect: proxy.connect, bind: 'host' },
      }),
    ],
    ['data', distctlInstance(PROJECT, 'data', BRIDGE, '10.97.0.11')],
  ]);
}

/** Exports the deployment from "host A" into a new bundle directory. */
async function exportBundle(
  name: string,
  extra: { keyFile?: string; encrypt?: boolean } = {},
): Promise<{ bundle: string; manifestSha256: string }> {
  const hostA = new FakeIncus();
  for (const [instance, backup] of await cleanInstances()) {
    hostA.backups.set(instance, backup);
    hostA.instances.set(instance, {
      name: instance,
      project: PROJECT,
      status: 'Running',
      type: 'container',
      config: backup.config,
      devices: backup.devices,
    });
  }
  hostA.projects.push({ name: PROJECT, description: '', config: { 'user.distctl.owner': PROJECT }, used_by: [] });
  const bundle = join(dir, name);
  const result = await exportCommand({
    file: topologyFile,
    output: bundle,
    compression: 'gzip',
    stop: false,
    client: hostA.client,
    ui,
    stateDirFor: (project) => join(dir, 'host-a-state', project),
    version: '0.0.0-test',
    ...extra,
  });
  return { bundle, manifestSha256: (result.json as { manifestSha256: string }).manifestSha256 };
}

/** "Host B": an empty Incus that import restores into. */
function importInto(hostB: FakeIncus, bundle: string, trust: Partial<ImportOptions>): Promise<unknown> {
  return importCommand({
    bundle,
    client: hostB.client,
    ui,
    confirm: async () => true,
    addressTimeoutMs: 1000,
    concurrency: 2,
    stateDirFor,
    ...trust,
  });
}

/** What an attacker who can write the bundle but holds no key can do: rewrite the manifest to match the files. */
async function rehash(bundle: string): Promise<string> {
  const path = join(bundle, 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8')) as {
    topology: Entry;
    secrets: Entry[];
    containers: Entry[];
  };
  for (const entry of [manifest.topology, ...manifest.secrets, ...manifest.containers]) {
    const bytes = await readFile(join(bundle, entry.file));
    entry.sha256 = createHash('sha256').update(bytes).digest('hex');
    entry.bytes = bytes.length;
  }
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  await writeFile(path, text);
  return createHash('sha256').update(text).digest('hex');
}
interface Entry {
  file: string;
  sha256: string;
  bytes: number;
}

/** Runs an import that must be refused: returns the error; asserts that nothing changed anywhere. */
async function refused(bundle: string, trust: Partial<ImportOptions>): Promise<DistctlError> {
  const hostB = new FakeIncus();
  const error = await importInto(hostB, bundle, trust).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(DistctlError);
  expect(hostB.changes()).toEqual([]);
  expect(existsSync(stateDirFor(PROJECT))).toBe(false);
  expect(await readdir(staging).catch(() => [])).toEqual([]);
  expect(await readdir(tmp)).toEqual([]);
  return error as DistctlError;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-xfer-unit-'));
  tmp = join(dir, 'tmp');
  await mkdir(tmp);
  staging = join(dir, 'host-b-state', 'staging');
  savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  topologyFile = join(dir, 'topology.yaml');
  await writeFile(topologyFile, TOPOLOGY);
  await mkdir(join(dir, 'host-a-state', PROJECT, 'secrets'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'host-a-state', PROJECT, 'secrets', 'jwt-secret'), SECRET, { mode: 0o600 });
  keyFile = join(dir, 'bundle.key');
  await writeFile(keyFile, 'correct horse battery staple 42\n', { mode: 0o600 });
});

afterEach(async () => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await rm(dir, { recursive: true, force: true });
});

describe('export', () => {
  it('writes a private bundle: directory 0700, every file 0600', async () => {
    const { bundle } = await exportBundle('bundle');
    expect((await stat(bundle)).mode & 0o777).toBe(0o700);
    expect((await stat(join(bundle, 'secrets'))).mode & 0o777).toBe(0o700);
    const files = ['manifest.json', 'topology.yaml', 'app.tar.gz', 'data.tar.gz', 'secrets/jwt-secret'];
    for (const file of files) expect([file, (await stat(join(bundle, file))).mode & 0o777]).toEqual([file, 0o600]);
  });

  it('refuses an existing directory others can enter, and leaves it as it was', async () => {
    const loose = join(dir, 'loose');
    await mkdir(loose);
    await chmod(loose, 0o755);
    const error = await exportBundle('loose').catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'EXPORT_TARGET_LOOSE' });
    expect((error as DistctlError).message).toContain('mode 755');
    expect((await stat(loose)).mode & 0o777).toBe(0o755);
    expect(await readdir(loose)).toEqual([]);
  });

  it('with --encrypt, no file of the bundle holds a secret or the topology in clear', async () => {
    const { bundle } = await exportBundle('sealed', { keyFile, encrypt: true });
    const names = [
      ...(await readdir(bundle)),
      ...(await readdir(join(bundle, 'secrets'))).map((name) => `secrets/${name}`),
    ].sort();
    expect(names).toEqual([
      'app.tar.gz.enc',
      'data.tar.gz.enc',
      'manifest.json',
      'manifest.json.hmac',
      'secrets',
      'secrets/jwt-secret.enc',
      'topology.yaml.enc',
    ]);
    for (const name of names.filter((entry) => entry !== 'secrets')) {
      const bytes = await readFile(join(bundle, name));
      expect(bytes.includes(SECRET), name).toBe(false);
      expect(bytes.includes('10.97.0.10'), name).toBe(false);
    }
  });

  it('refuses --encrypt without a key, and a key file others can read', async () => {
    await expect(exportBundle('nokey', { encrypt: true })).rejects.toMatchObject({ code: 'USAGE' });
    await chmod(keyFile, 0o644);
    await expect(exportBundle('loosekey', { keyFile })).rejects.toMatchObject({ code: 'BUNDLE_KEY_LOOSE' });
  });
});

describe('import of a bundle', () => {
  it('restores a signed, encrypted bundle from a private copy, into a restricted project', async () => {
    const { bundle } = await exportBundle('sealed', { keyFile, encrypt: true });
    const hostB = new FakeIncus();
    for (const [name, backup] of await cleanInstances()) hostB.backups.set(name, backup);
    const result = (await importInto(hostB, bundle, { keyFile })) as { exitCode: number; json: { topology: string } };
    expect(result.exitCode).toBe(0);
    expect(hostB.imported.map((entry) => entry.name)).toEqual(['app', 'data']);
    for (const entry of hostB.imported)
      expect(entry.path.startsWith(`${staging}/${process.pid}-`), entry.path).toBe(true);
    expect(hostB.changes().slice(0, 3)).toEqual([
      `incus project create -c features.images=false -c features.profiles=true -c features.networks=false -c user.distctl.owner=${PROJECT} -- ${PROJECT}`,
      `incus --project ${PROJECT} profile device add -- default root disk path=/ pool=default`,
      `incus project set -- ${PROJECT} restricted=true restricted.devices.proxy=allow restricted.backups=allow restricted.containers.lowlevel=allow restricted.networks.access=${BRIDGE}`,
    ]);
    expect(await readFile(join(stateDirFor(PROJECT), 'secrets', 'jwt-secret'), 'utf8')).toBe(SECRET);
    expect(result.json.topology).toBe(join(stateDirFor(PROJECT), 'topology.yaml'));
    expect(await readFile(result.json.topology, 'utf8')).toBe(TOPOLOGY);
    expect(await readdir(staging)).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
  });

  it("removes what an import killed midway left in staging, and leaves a running import's directory alone", async () => {
    const { bundle } = await exportBundle('sealed', { keyFile, encrypt: true });
    // A killed import's directory (its pid runs no more; pid_max is at most 2^22) with a decrypted secret in it.
    const dead = join(staging, `${2 ** 22 + 7}-a1b2c3`);
    await mkdir(join(dead, 'secrets'), { recursive: true, mode: 0o700 });
    await writeFile(join(dead, 'secrets', 'jwt-secret'), SECRET, { mode: 0o600 });
    // A running process's directory, and an entry that is no staging directory at all.
    const running = spawn('sleep', ['60']);
    const alive = join(staging, `${running.pid}-d4e5f6`);
    await mkdir(alive);
    await mkdir(join(staging, 'kept-by-someone'));
    try {
      const hostB = new FakeIncus();
      for (const [name, backup] of await cleanInstances()) hostB.backups.set(name, backup);
      expect(await importInto(hostB, bundle, { keyFile })).toMatchObject({ exitCode: 0 });
      expect((await readdir(staging)).sort()).toEqual([`${running.pid}-d4e5f6`, 'kept-by-someone']);
    } finally {
      running.kill();
    }
  });

  it('requires a way to trust the bundle', async () => {
    const { bundle } = await exportBundle('bundle');
    const error = await refused(bundle, {});
    expect(error.code).toBe('BUNDLE_UNVERIFIED');
    expect(error.hint).toContain('--manifest-sha256');
  });

  it('refuses a secret that is a symlink to a host file, and never copies that file', async () => {
    const { bundle, manifestSha256 } = await exportBundle('bundle');
    const hostFile = join(dir, 'root-only');
    await writeFile(hostFile, 'host secret', { mode: 0o600 });
    await rm(join(bundle, 'secrets', 'jwt-secret'));
    await symlink(hostFile, join(bundle, 'secrets', 'jwt-secret'));
    const error = await refused(bundle, { manifestSha256 });
    expect(error.code).toBe('BUNDLE_UNSAFE_ENTRY');
    expect(error.message).toBe(
      `${join(bundle, 'secrets', 'jwt-secret')} is a symbolic link, not a regular file; nothing was changed`,
    );
  });

  it('refuses a backup that is a symlink to /dev/zero at once, instead of hashing forever', async () => {
    const { bundle } = await exportBundle('bundle');
    await rm(join(bundle, 'data.tar.gz'));
    await symlink('/dev/zero', join(bundle, 'data.tar.gz'));
    const started = Date.now();
    const error = await refused(bundle, { unverified: true });
    expect(error.code).toBe('BUNDLE_UNSAFE_ENTRY');
    expect(error.message).toContain('data.tar.gz is a symbolic link');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a backup that is a FIFO without blocking on it', async () => {
    const { bundle } = await exportBundle('bundle');
    await rm(join(bundle, 'app.tar.gz'));
    execFileSync('mkfifo', [join(bundle, 'app.tar.gz')]);
    const error = await refused(bundle, { unverified: true });
    expect(error.message).toBe(`${join(bundle, 'app.tar.gz')} is a FIFO, not a regular file; nothing was changed`);
  });

  it.each([['/etc/shadow'], ['../mongodb.tgz'], ['sub/../../mongodb.tgz']])(
    'refuses a server archive outside the bundle: %s',
    async (archive) => {
      const { bundle } = await exportBundle('bundle');
      await writeFile(join(bundle, 'topology.yaml'), `${TOPOLOGY}mongodb:\n  source: { archive: "${archive}" }\n`);
      await rehash(bundle);
      const error = await refused(bundle, { unverified: true });
      expect(error.code).toBe('BUNDLE_ARCHIVE_OUTSIDE');
      expect(error.message).toContain(`names mongodb.source.archive ${archive}`);
    },
  );

  it('refuses a manifest changed after export when a key checks it, even with matching hashes', async () => {
    const { bundle } = await exportBundle('signed', { keyFile });
    await writeFile(join(bundle, 'secrets', 'jwt-secret'), 'attacker-chosen');
    await rehash(bundle);
    const error = await refused(bundle, { keyFile });
    expect(error.code).toBe('BUNDLE_NOT_AUTHENTIC');
    expect(error.message).toBe(`the manifest of ${bundle} is not signed by this key; nothing was changed`);
  });

  it('refuses a bundle signed with another key', async () => {
    const { bundle } = await exportBundle('sealed', { keyFile, encrypt: true });
    const other = join(dir, 'other.key');
    await writeFile(other, 'a different key, long enough', { mode: 0o600 });
    expect((await refused(bundle, { keyFile: other })).code).toBe('BUNDLE_NOT_AUTHENTIC');
  });

  it('refuses a manifest whose digest is not the one given out of band', async () => {
    const { bundle, manifestSha256 } = await exportBundle('bundle');
    await writeFile(join(bundle, 'secrets', 'jwt-secret'), 'attacker-chosen');
    const changed = await rehash(bundle);
    const error = await refused(bundle, { manifestSha256 });
    expect(error.message).toBe(
      `the manifest of ${bundle} has sha256 ${changed}, not the ${manifestSha256} given; nothing was changed`,
    );
  });

  it('refuses a backup changed after export', async () => {
    const { bundle, manifestSha256 } = await exportBundle('bundle');
    const path = join(bundle, 'data.tar.gz');
    const bytes = await readFile(path);
    bytes.writeUInt8((bytes.at(-1) ?? 0) ^ 0xff, bytes.length - 1);
    await writeFile(path, bytes);
    const error = await refused(bundle, { manifestSha256 });
    expect(error.code).toBe('BUNDLE_DAMAGED');
    expect(error.details.join('\n')).toMatch(
      /^data\.tar\.gz: content differs from the manifest \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\)$/,
    );
  });

  it('refuses entries the manifest does not list', async () => {
    const { bundle, manifestSha256 } = await exportBundle('bundle');
    await writeFile(join(bundle, 'mongodb.tgz'), 'x');
    await symlink('/etc/passwd', join(bundle, 'secrets', 'extra'));
    const error = await refused(bundle, { manifestSha256 });
    expect(error.code).toBe('BUNDLE_UNEXPECTED_ENTRY');
    expect(error.details).toEqual(['mongodb.tgz: not part of the bundle', 'secrets/extra: not part of the bundle']);
  });

  it('refuses backups that would be privileged, run raw LXC, or see host paths and devices; --allow-unsafe-config lets them through unrestricted', async () => {
    const { bundle } = await exportBundle('bundle');
    const unsafe: BackupInstance = {
      config: {
        ...distctlInstance(PROJECT, 'data', BRIDGE, '10.97.0.11').config,
        'security.privileged': 'true',
        // distctl's own address line does not carry another line through.
        'raw.lxc': 'lxc.net.0.ipv4.address = 10.97.0.11/24 10.97.0.255\nlxc.apparmor.profile=unconfined',
      },
      devices: {
        eth0: { type: 'nic', name: 'eth0', network: BRIDGE, 'ipv4.address': '10.97.0.11' },
        host: { type: 'disk', source: '/', path: '/mnt/host' },
        kmsg: { type: 'unix-char', source: '/dev/kmsg' },
        sock: { type: 'proxy', bind: 'container', listen: 'unix:/run/x.sock', connect: 'unix:/run/incus/unix.socket' },
      },
    };
    await writeBackup(join(bundle, 'data.tar.gz'), 'data', unsafe);
    await rehash(bundle);
    const error = await refused(bundle, { unverified: true });
    expect(error.code).toBe('BUNDLE_UNSAFE_INSTANCE');
    const details = error.details.filter((line) => line.startsWith('data: index.yaml config.container'));
    expect(details).toEqual([
      'data: index.yaml config.container: config raw.lxc=lxc.net.0.ipv4.address = 10.97.0.11/24 10.97.0.255\n' +
        'lxc.apparmor.profile=unconfined',
      'data: index.yaml config.container: config security.privileged=true',
      'data: index.yaml config.container: device host (type=disk, source=/, path=/mnt/host): only the root disk is allowed, no host path or extra volume',
      'data: index.yaml config.container: device kmsg (type=unix-char, source=/dev/kmsg): hands a host device to the container',
      'data: index.yaml config.container: device sock (type=proxy, bind=container, listen=unix:/run/x.sock, connect=unix:/run/incus/unix.socket): not a proxy the topology declares',
    ]);
    expect(error.details.filter((line) => line.startsWith('data: backup.yaml container'))).toHaveLength(5);
    expect(error.details.filter((line) => line.startsWith('app:'))).toEqual([]);

    const hostB = new FakeIncus();
    for (const [name, backup] of await cleanInstances()) hostB.backups.set(name, backup);
    await importInto(hostB, bundle, { unverified: true, allowUnsafeConfig: true });
    expect(hostB.imported.map((entry) => entry.name)).toEqual(['app', 'data']);
    expect(hostB.changes().some((line) => line.includes('restricted=true'))).toBe(false);
    expect(hostB.changes()[0]).toContain('features.profiles=false');
  });

  it('refuses a backup that hides a second descriptor behind the first', async () => {
    const { bundle } = await exportBundle('bundle');
    const [, clean] = [...(await cleanInstances())][1]!;
    await writeBackup(join(bundle, 'data.tar.gz'), 'data', clean, [
      { name: 'backup/index.yaml', text: 'config: { container: { config: { security.privileged: "true" } } }\n' },
    ]);
    await rehash(bundle);
    const error = await refused(bundle, { unverified: true });
    expect(error.code).toBe('BUNDLE_BACKUP_UNREADABLE');
    expect(error.details).toEqual(['backup/index.yaml: appears more than once']);
  });
});
