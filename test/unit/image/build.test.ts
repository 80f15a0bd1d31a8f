import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import type { Runner } from '../../../src/exec/runner.js';
import { ScriptedRunner } from '../support/scripted-runner.js';
import { buildImage, type BuildImageOptions } from '../../../src/image/index.js';

const APT_DIR = fileURLToPath(new URL('./fixtures/apt-deb822', import.meta.url));
const NEW_FP = 'a'.repeat(64);
const OLD_FP = 'b'.repeat(64);

/** Plays debootstrap's part on disk: the files the build must then rewrite or remove. */
async function fakeDebootstrap(rootfs: string): Promise<void> {
  for (const dir of ['etc/apt', 'var/lib/dbus', 'debootstrap']) await mkdir(join(rootfs, dir), { recursive: true });
  await writeFile(join(rootfs, 'etc/apt/sources.list'), 'deb http://mirror.example.test/debian bookworm main\n');
  await writeFile(join(rootfs, 'etc/resolv.conf'), 'nameserver 192.0.2.53\n');
  await writeFile(join(rootfs, 'etc/hostname'), 'build-host\n');
  await writeFile(join(rootfs, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
  await writeFile(join(rootfs, 'var/lib/dbus/machine-id'), '0123456789abcdef0123456789abcdef\n');
}

interface Scenario {
  uid?: string;
  aliasTarget?: string;
  debootstrap?: 'ok' | 'missing' | 'fails';
  aliasCreateFails?: boolean;
  oldImageAliases?: string[];
}

/** A runner scripted as a healthy host plus the scenario's twists; it captures the packed tree at `tar` time. */
function hostRunner(s: Scenario, captured: { work?: string; files?: Map<string, string> }): ScriptedRunner {
  return new ScriptedRunner(async (cmd) => {
    const [a0, a1, a2, , a4] = cmd.args;
    if (cmd.bin === 'id') return { stdout: `${s.uid ?? '0'}\n` };
    if (cmd.bin === 'debootstrap' && a0 === '--version') {
      if (s.debootstrap === 'missing')
        throw new DistctlError('BINARY_NOT_FOUND', '`debootstrap` is not installed or not on PATH.');
      return { stdout: 'debootstrap 1.0.128\n' };
    }
    if (cmd.bin === 'debootstrap') {
      const rootfs = cmd.args.at(-2)!;
      captured.work = rootfs.replace(/\/rootfs$/, '');
      await fakeDebootstrap(rootfs);
      if (s.debootstrap === 'fails') {
        await writeFile(join(rootfs, 'debootstrap/debootstrap.log'), "E: Couldn't download packages: systemd\n");
        return { exitCode: 1, stdout: 'I: Retrieving Release\nE: Failed getting release file\n' };
      }
      return {};
    }
    if (cmd.bin === 'chroot') return {};
    if (cmd.bin === 'tar') {
      const files = new Map<string, string>();
      const work = captured.work!;
      for (const path of [
        'metadata.yaml',
        'templates/hostname.tpl',
        'templates/hosts.tpl',
        'rootfs/etc/network/interfaces',
        'rootfs/etc/apt/sources.list.d/debian.sources',
        'rootfs/etc/hostname',
        'rootfs/etc/machine-id',
      ]) {
        files.set(path, await readFile(join(work, path), 'utf8'));
      }
      files.set('rootfs/etc:list', (await readdir(join(work, 'rootfs/etc'))).sort().join(','));
      files.set('rootfs/var/lib/dbus:list', (await readdir(join(work, 'rootfs/var/lib/dbus'))).join(','));
      captured.files = files;
      return {};
    }
    if (cmd.bin === 'rm') {
      await rm(cmd.args.at(-1)!, { recursive: true, force: true });
      return {};
    }
    if (cmd.bin !== 'incus') return undefined;
    if (a0 === 'query' && a1 === '/1.0') return { stdout: '{}' };
    if (a0 === 'query' && a1 === '/1.0/images/aliases/debian12-distctl?project=default') {
      return s.aliasTarget === undefined
        ? { exitCode: 1, stderr: 'Error: Image alias not found\n' }
        : { stdout: JSON.stringify({ name: 'debian12-distctl', target: s.aliasTarget }) };
    }
    if (a0 === 'image' && a1 === 'import') return { stdout: `Image imported with fingerprint: ${NEW_FP}\n` };
    if (a0 === 'image' && a1 === 'alias' && a2 === 'create')
      return s.aliasCreateFails ? { exitCode: 1, stderr: 'Error: boom\n' } : {};
    if (a0 === 'query' && a1 === '-X' && a2 === 'PUT') return {};
    if (a0 === 'query' && a1 === `/1.0/images/${NEW_FP}?project=default`) {
      const aliases = s.aliasCreateFails ? [] : [{ name: 'debian12-distctl' }];
      return { stdout: JSON.stringify({ fingerprint: NEW_FP, size: 123_456_789, aliases }) };
    }
    if (a0 === 'query' && a1 === `/1.0/images/${OLD_FP}?project=default`) {
      return {
        stdout: JSON.stringify({
          fingerprint: OLD_FP,
          size: 1,
          aliases: (s.oldImageAliases ?? []).map((name) => ({ name })),
        }),
      };
    }
    if (a0 === 'image' && a1 === 'delete' && a2 === '--project' && a4 === '--') return {};
    return undefined;
  });
}

let parent: string;
beforeEach(async () => {
  parent = await mkdtemp(join(tmpdir(), 'distctl-image-test-'));
});
afterEach(async () => {
  await rm(parent, { recursive: true, force: true });
});

function options(runner: Runner, extra: Partial<BuildImageOptions> = {}): BuildImageOptions {
  return { alias: 'debian12-distctl', runner, workDir: parent, aptDir: APT_DIR, nodeArch: 'x64', ...extra };
}

describe('buildImage', () => {
  it('debootstraps, configures, packs and imports under a new alias, then removes the work dir', async () => {
    const captured: { work?: string; files?: Map<string, string> } = {};
    const runner = hostRunner({}, captured);
    const steps: string[] = [];
    const result = await buildImage(options(runner, { onProgress: (s) => steps.push(s) }));

    expect(runner.lines(captured.work)).toEqual([
      'id -u',
      'debootstrap --version',
      'incus query /1.0',
      'incus query /1.0/images/aliases/debian12-distctl?project=default',
      'debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2,ifupdown,isc-dhcp-client,ca-certificates,tzdata --arch=amd64 ' +
        '--force-check-gpg --keyring=/usr/share/keyrings/debian-archive-keyring.gpg bookworm <work>/rootfs http://mirror.example.test/debian',
      'chroot <work>/rootfs systemctl mask systemd-networkd-wait-online.service',
      'chroot <work>/rootfs apt-get clean',
      'tar --numeric-owner --xattrs --xattrs-include=* -C <work> -czf <work>/image.tar.gz metadata.yaml templates rootfs',
      'incus image import --project default -- <work>/image.tar.gz',
      `incus image alias create --project default -- debian12-distctl ${NEW_FP}`,
      `incus query /1.0/images/${NEW_FP}?project=default`,
      'rm -rf --one-file-system <work>',
    ]);
    expect(result).toMatchObject({
      alias: 'debian12-distctl',
      fingerprint: NEW_FP,
      sizeBytes: 123_456_789,
      mirror: 'http://mirror.example.test/debian',
      suite: 'bookworm',
      project: 'default',
      replaced: undefined,
    });
    expect(steps[0]).toBe('checking host');
    expect(steps.at(-1)).toBe('cleaning up');
    expect(await readdir(parent)).toEqual([]);

    const files = captured.files!;
    expect(files.get('rootfs/etc/network/interfaces')).toContain('auto eth0\niface eth0 inet dhcp\n');
    expect(files.get('rootfs/etc/apt/sources.list.d/debian.sources')).toBe(
      [
        'Types: deb',
        'URIs: http://mirror.example.test/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main contrib',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: http://mirror.example.test/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
      ].join('\n'),
    );
    expect(files.get('rootfs/etc/machine-id')).toBe('');
    expect(files.get('rootfs/etc/hostname')).toBe('debian\n');
    // debootstrap's one-line source and the build host's resolver are gone; dbus' machine-id copy too.
    expect(files.get('rootfs/etc:list')).toBe('apt,hostname,hosts,machine-id,network');
    expect(files.get('rootfs/var/lib/dbus:list')).toBe('');
    expect(files.get('templates/hostname.tpl')).toBe('{{ instance.name }}\n');
    expect(files.get('templates/hosts.tpl')).toContain('127.0.1.1\t{{ instance.name }}');

    const metadata = parse(files.get('metadata.yaml')!) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      architecture: 'x86_64',
      properties: { os: 'debian', release: 'bookworm', architecture: 'amd64' },
      templates: {
        '/etc/hostname': { template: 'hostname.tpl', when: ['create', 'copy'] },
        '/etc/hosts': { template: 'hosts.tpl', when: ['create', 'copy'] },
      },
    });
    expect(Math.abs((metadata.creation_date as number) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('uses an explicit mirror over the host configuration', async () => {
    const captured: { work?: string } = {};
    const runner = hostRunner({}, captured);
    const result = await buildImage(
      options(runner, { mirror: 'http://other.example.test/debian', suite: 'trixie', nodeArch: 'arm64' }),
    );
    const debootstrap = runner.lines(captured.work).find((l) => l.startsWith('debootstrap --variant'));
    expect(debootstrap).toBe(
      'debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,iproute2,ifupdown,isc-dhcp-client,ca-certificates,tzdata --arch=arm64 ' +
        // No source names a keyring for this mirror: Debian's archive keyring must vouch for it, signature required.
        '--force-check-gpg --keyring=/usr/share/keyrings/debian-archive-keyring.gpg trixie <work>/rootfs http://other.example.test/debian',
    );
    expect(result.mirror).toBe('http://other.example.test/debian');
    expect(result.suite).toBe('trixie');
  });

  it('refuses an existing alias without force, before building anything', async () => {
    const runner = hostRunner({ aliasTarget: OLD_FP }, {});
    const error = await buildImage(options(runner)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DistctlError);
    expect(error).toMatchObject({ code: 'IMAGE_ALIAS_EXISTS' });
    expect((error as DistctlError).hint).toContain('--force');
    expect(runner.calls.some((c) => c.bin === 'debootstrap' && c.args[0] !== '--version')).toBe(false);
    expect(await readdir(parent)).toEqual([]);
  });

  it('with force, imports first, moves the alias in one call, then deletes the unaliased old image', async () => {
    const captured: { work?: string } = {};
    const runner = hostRunner({ aliasTarget: OLD_FP }, captured);
    const result = await buildImage(options(runner, { force: true }));
    const lines = runner.lines(captured.work);
    expect(lines.slice(lines.indexOf('incus image import --project default -- <work>/image.tar.gz'))).toEqual([
      'incus image import --project default -- <work>/image.tar.gz',
      `incus query -X PUT /1.0/images/aliases/debian12-distctl?project=default --data {"target":"${NEW_FP}","description":""}`,
      `incus query /1.0/images/${OLD_FP}?project=default`,
      `incus image delete --project default -- ${OLD_FP}`,
      `incus query /1.0/images/${NEW_FP}?project=default`,
      'rm -rf --one-file-system <work>',
    ]);
    expect(result.replaced).toEqual({ fingerprint: OLD_FP, deleted: true });
  });

  it('with force, keeps the old image when another alias still names it', async () => {
    const runner = hostRunner({ aliasTarget: OLD_FP, oldImageAliases: ['pinned'] }, {});
    const result = await buildImage(options(runner, { force: true }));
    expect(result.replaced).toEqual({ fingerprint: OLD_FP, deleted: false });
    expect(runner.calls.some((c) => c.args[0] === 'image' && c.args[1] === 'delete')).toBe(false);
  });

  it('says so when not run as root', async () => {
    const runner = hostRunner({ uid: '1000' }, {});
    await expect(buildImage(options(runner))).rejects.toMatchObject({
      code: 'IMAGE_BUILD_NOT_ROOT',
      hint: 'Re-run it with sudo.',
    });
  });

  it('turns a missing debootstrap into an install hint', async () => {
    const runner = hostRunner({ debootstrap: 'missing' }, {});
    await expect(buildImage(options(runner))).rejects.toMatchObject({
      code: 'DEBOOTSTRAP_MISSING',
      hint: 'Install it: apt-get install -y debootstrap',
    });
  });

  it('reports a failed debootstrap with its log tail and still removes the work dir', async () => {
    const captured: { work?: string } = {};
    const runner = hostRunner({ debootstrap: 'fails' }, captured);
    const error = (await buildImage(options(runner)).catch((e: unknown) => e)) as DistctlError;
    expect(error.code).toBe('DEBOOTSTRAP_FAILED');
    expect(error.details).toEqual([
      'I: Retrieving Release',
      'E: Failed getting release file',
      "E: Couldn't download packages: systemd",
    ]);
    expect(runner.lines(captured.work).at(-1)).toBe('rm -rf --one-file-system <work>');
    expect(await readdir(parent)).toEqual([]);
  });

  it('deletes the just-imported image when the alias cannot be created', async () => {
    const captured: { work?: string } = {};
    const runner = hostRunner({ aliasCreateFails: true }, captured);
    await expect(buildImage(options(runner))).rejects.toMatchObject({ code: 'INCUS_FAILED' });
    expect(runner.lines(captured.work)).toContain(`incus image delete --project default -- ${NEW_FP}`);
    expect(await readdir(parent)).toEqual([]);
  });

  it('fails with a clear message when the host has no usable mirror', async () => {
    const runner = hostRunner({}, {});
    const aptDir = fileURLToPath(new URL('./fixtures/apt-thirdparty-only', import.meta.url));
    await expect(buildImage(options(runner, { aptDir }))).rejects.toMatchObject({ code: 'IMAGE_MIRROR_UNKNOWN' });
  });
});
