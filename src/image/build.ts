import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CommandFailedError, DistctlError } from '../errors/index.js';
import type { CommandSpec, Runner } from '../exec/runner.js';
import { IncusClient } from '../incus/client.js';
import { findSuiteSource, pickMirror, readAptSources, type MirrorChoice } from './apt-sources.js';
import {
  IMAGE_PACKAGES,
  IMAGE_TEMPLATES,
  ROOTFS_REMOVED,
  imageArchitecture,
  imageMetadataYaml,
  rootfsFiles,
  type ImageArchitecture,
} from './content.js';
import {
  IMAGE_PROJECT,
  deleteImageIfUnaliased,
  imageAliasTarget,
  importImageTarball,
  pointAlias,
  readImage,
} from './store.js';

/** Inputs of `distctl image build`. */
export interface BuildImageOptions {
  /** Image alias to create or (with `force`) move to the new image. */
  readonly alias: string;
  /** Debian suite to debootstrap; default `bookworm`. */
  readonly suite?: string;
  /** Debian archive URI; default: the one the host's apt configuration uses for `suite`. */
  readonly mirror?: string;
  /** Parent directory for the temporary build tree; default `/var/tmp` (debootstrap needs a dev/exec-capable filesystem). */
  readonly workDir?: string;
  /** Replace an existing image with the same alias instead of refusing. */
  readonly force?: boolean;
  /** Incus project that receives the image; default `default`, whose images are shared with projects created with `features.images=false`. */
  readonly project?: string;
  /** Where to read the host's apt configuration; default `/etc/apt`. */
  readonly aptDir?: string;
  /** Host architecture as Node names it; default `process.arch`. */
  readonly nodeArch?: string;
  readonly runner: Runner;
  /** Called with a short description as each step starts. */
  readonly onProgress?: (step: string) => void;
}

/** What `distctl image build` produced. */
export interface BuildImageResult {
  readonly alias: string;
  readonly fingerprint: string;
  readonly sizeBytes: number;
  readonly seconds: number;
  readonly mirror: string;
  readonly suite: string;
  readonly project: string;
  /** The image the alias pointed at before, when it was replaced. */
  readonly replaced: { readonly fingerprint: string; readonly deleted: boolean } | undefined;
}

const DEFAULT_SUITE = 'bookworm';
const DEBOOTSTRAP_TIMEOUT_MS = 30 * 60_000;
const STEP_TIMEOUT_MS = 10 * 60_000;

async function runChecked(runner: Runner, spec: CommandSpec, hint?: string): Promise<string> {
  const result = await runner.run(spec);
  if (result.exitCode !== 0)
    throw new CommandFailedError([spec.bin, ...spec.args], result.exitCode, result.stderr, { hint });
  return result.stdout;
}

/** Fails fast, before minutes of debootstrap, on anything the build cannot get past. */
async function checkHost(
  runner: Runner,
  client: IncusClient,
  alias: string,
  project: string,
  force: boolean,
): Promise<string | undefined> {
  const uid = (await runChecked(runner, { bin: 'id', args: ['-u'] })).trim();
  if (uid !== '0') {
    throw new DistctlError(
      'IMAGE_BUILD_NOT_ROOT',
      `distctl image build must run as root (running as uid ${uid}): debootstrap and chroot need it.`,
      {
        hint: 'Re-run it with sudo.',
      },
    );
  }
  try {
    await runChecked(runner, { bin: 'debootstrap', args: ['--version'] });
  } catch (error) {
    if (error instanceof DistctlError && error.code === 'BINARY_NOT_FOUND') {
      throw new DistctlError('DEBOOTSTRAP_MISSING', '`debootstrap` is not installed on this host.', {
        hint: 'Install it: apt-get install -y debootstrap',
      });
    }
    throw error;
  }
  const daemon = await client.attempt({ args: ['query', '/1.0'], timeoutMs: 30_000 });
  if (daemon.exitCode !== 0) {
    throw new DistctlError(
      'INCUS_UNREACHABLE',
      `The Incus daemon does not answer (\`incus query /1.0\`: ${daemon.stderr.trim() || `exit ${daemon.exitCode}`}).`,
      {
        hint: 'Start it (see bin/ensure-incus.sh) and check you are root or in group incus-admin.',
      },
    );
  }
  const previous = await imageAliasTarget(client, alias, project);
  if (previous !== undefined && !force) {
    throw new DistctlError(
      'IMAGE_ALIAS_EXISTS',
      `Image alias \`${alias}\` already exists in project \`${project}\` (image ${previous.slice(0, 12)}).`,
      {
        hint: 'Pass --force to build a new image and move the alias to it, or use another alias.',
      },
    );
  }
  return previous;
}

async function resolveMirror(
  options: BuildImageOptions,
  suite: string,
): Promise<{ mirror: MirrorChoice; security: MirrorChoice | undefined }> {
  const aptDir = options.aptDir ?? '/etc/apt';
  const sources = await readAptSources(aptDir);
  const security = findSuiteSource(sources, `${suite}-security`);
  if (options.mirror !== undefined) {
    return { mirror: { uri: options.mirror, signedBy: undefined, components: ['main'], origin: '--mirror' }, security };
  }
  const mirror = pickMirror(sources, suite);
  if (mirror === undefined) {
    throw new DistctlError(
      'IMAGE_MIRROR_UNKNOWN',
      `No Debian archive for suite \`${suite}\` found in the host's apt configuration (${aptDir}/sources.list, ${aptDir}/sources.list.d/).`,
      {
        hint: 'Pass --mirror URI (a Debian archive reachable from this host).',
      },
    );
  }
  return { mirror, security };
}

/** Debian's archive keyring (package debian-archive-keyring): what vouches for a mirror whose source names none. */
export const DEBIAN_ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/**
 * Runs debootstrap so that it accepts only a Release file signed by a key of
 * an explicit keyring: the source's `signed-by`, else Debian's archive
 * keyring. `--force-check-gpg` makes a missing or bad signature fatal instead
 * of a warning (over plain http an unsigned Release would otherwise be taken).
 */
async function debootstrap(
  runner: Runner,
  rootfs: string,
  suite: string,
  arch: string,
  mirror: MirrorChoice,
): Promise<void> {
  const args = [
    '--variant=minbase',
    `--include=${IMAGE_PACKAGES.join(',')}`,
    `--arch=${arch}`,
    '--force-check-gpg',
    `--keyring=${mirror.signedBy ?? DEBIAN_ARCHIVE_KEYRING}`,
    suite,
    rootfs,
    mirror.uri,
  ];
  const result = await runner.run({ bin: 'debootstrap', args, timeoutMs: DEBOOTSTRAP_TIMEOUT_MS });
  if (result.exitCode === 0) return;
  // debootstrap's own log says which package or download failed; it is deleted with the work dir, so keep its tail.
  const log = await readFile(join(rootfs, 'debootstrap', 'debootstrap.log'), 'utf8').catch(() => '');
  throw new DistctlError(
    'DEBOOTSTRAP_FAILED',
    `debootstrap of ${suite} from ${mirror.uri} failed (exit ${result.exitCode}${result.timedOut ? ', timed out' : ''}).`,
    {
      hint: `Check that ${mirror.uri} is reachable from this host and serves ${suite}, or pass --mirror.`,
      // debootstrap prints its I:/E: progress on stdout, so the reason is usually there.
      details: [`${result.stdout}\n${result.stderr}`, log]
        .flatMap((text) => text.trim().split('\n').slice(-8))
        .filter((l) => l !== ''),
    },
  );
}

async function configureRootfs(
  runner: Runner,
  rootfs: string,
  suite: string,
  mirror: MirrorChoice,
  security: MirrorChoice | undefined,
): Promise<void> {
  for (const removed of ROOTFS_REMOVED) await rm(join(rootfs, removed), { force: true });
  for (const file of rootfsFiles({ suite, mirror, security })) {
    await mkdir(dirname(join(rootfs, file.path)), { recursive: true });
    await writeFile(join(rootfs, file.path), file.content);
  }
  // Nothing in the image uses networkd, so network-online.target must not wait for it.
  await runChecked(runner, {
    bin: 'chroot',
    args: [rootfs, 'systemctl', 'mask', 'systemd-networkd-wait-online.service'],
    timeoutMs: STEP_TIMEOUT_MS,
  });
  await runChecked(runner, { bin: 'chroot', args: [rootfs, 'apt-get', 'clean'], timeoutMs: STEP_TIMEOUT_MS });
}

async function writeImageMetadata(dir: string, suite: string, arch: ImageArchitecture): Promise<void> {
  await writeFile(join(dir, 'metadata.yaml'), imageMetadataYaml({ arch, suite, createdAt: new Date() }));
  await mkdir(join(dir, 'templates'), { recursive: true });
  for (const template of IMAGE_TEMPLATES) await writeFile(join(dir, 'templates', template.path), template.content);
}

/** Mount points at or below `dir`, deepest first, from /proc/self/mounts (octal escapes decoded). */
async function mountsBelow(dir: string): Promise<string[]> {
  const table = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  return table
    .split('\n')
    .map((line) =>
      (line.split(' ')[1] ?? '').replace(/\\([0-7]{3})/g, (_, octal: string) =>
        String.fromCharCode(parseInt(octal, 8)),
      ),
    )
    .filter((target) => target === dir || target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes the build tree. A debootstrap killed mid-way can leave /proc or /sys
 * mounted inside it, so those are unmounted first and `rm` is kept on one
 * filesystem: a cleanup must never reach into the host's /proc.
 */
async function removeWorkDir(runner: Runner, dir: string): Promise<void> {
  for (const target of await mountsBelow(dir))
    await runner.run({ bin: 'umount', args: ['--lazy', target], timeoutMs: 60_000 });
  await runChecked(
    runner,
    { bin: 'rm', args: ['-rf', '--one-file-system', dir], timeoutMs: STEP_TIMEOUT_MS },
    `Remove ${dir} by hand.`,
  );
}

/**
 * `distctl image build`: debootstraps a Debian base image (systemd as PID 1, DHCP on
 * eth0 via ifupdown), packs it as a unified tarball and imports it into Incus under
 * `alias`. With `force`, an existing alias is moved to the new image and the old image
 * is deleted once nothing names it. The temporary build tree is removed even on failure.
 */
export async function buildImage(options: BuildImageOptions): Promise<BuildImageResult> {
  const started = Date.now();
  const { runner, alias } = options;
  const client = new IncusClient(runner);
  const progress = options.onProgress ?? (() => {});
  const suite = options.suite ?? DEFAULT_SUITE;
  const project = options.project ?? IMAGE_PROJECT;
  const arch = imageArchitecture(options.nodeArch ?? process.arch);

  progress('checking host');
  const previous = await checkHost(runner, client, alias, project, options.force ?? false);
  const { mirror, security } = await resolveMirror(options, suite);

  const parent = options.workDir ?? '/var/tmp';
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, 'distctl-image-'));
  const rootfs = join(dir, 'rootfs');
  const tarball = join(dir, 'image.tar.gz');
  let result: BuildImageResult | undefined;
  try {
    progress(`debootstrap ${suite} (${arch.debian}) from ${mirror.uri}`);
    await debootstrap(runner, rootfs, suite, arch.debian, mirror);

    progress('configuring root filesystem');
    await configureRootfs(runner, rootfs, suite, mirror, security);
    await writeImageMetadata(dir, suite, arch);

    progress('packing image');
    await runChecked(runner, {
      bin: 'tar',
      args: [
        '--numeric-owner',
        '--xattrs',
        '--xattrs-include=*',
        '-C',
        dir,
        '-czf',
        tarball,
        'metadata.yaml',
        'templates',
        'rootfs',
      ],
      timeoutMs: STEP_TIMEOUT_MS,
    });

    progress(`importing into Incus (project ${project})`);
    const fingerprint = await importImageTarball(client, tarball, project);
    try {
      await pointAlias(client, alias, fingerprint, previous, project);
    } catch (error) {
      // Leave no anonymous image behind when the alias could not be set.
      await deleteImageIfUnaliased(client, fingerprint, project).catch(() => false);
      throw error;
    }
    const replaced =
      previous !== undefined && previous !== fingerprint
        ? { fingerprint: previous, deleted: await deleteImageIfUnaliased(client, previous, project) }
        : undefined;
    const image = await readImage(client, fingerprint, project);
    result = {
      alias,
      fingerprint,
      sizeBytes: image.sizeBytes,
      seconds: Math.round((Date.now() - started) / 100) / 10,
      mirror: mirror.uri,
      suite,
      project,
      replaced,
    };
  } finally {
    progress('cleaning up');
    if (result === undefined) {
      // The build already failed; that error is the one to report.
      await removeWorkDir(runner, dir).catch(() => undefined);
    } else {
      await removeWorkDir(runner, dir);
    }
  }
  return result;
}
