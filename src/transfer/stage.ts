import { createHash } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DistctlError } from '../errors/index.js';
import { decryptFile, deriveKeys, macMatches, type BundleKey } from './bundle-key.js';
import {
  BUNDLE_SECRETS,
  ENCRYPTED_SUFFIX,
  MANIFEST_FILE,
  MANIFEST_MAC_FILE,
  manifestFiles,
  parseManifest,
  type BundleFile,
  type Manifest,
} from './manifest.js';

/** How `import` establishes that a bundle is the one the operator exported. */
export type BundleTrust =
  | { readonly kind: 'key'; readonly key: BundleKey }
  | { readonly kind: 'digest'; readonly sha256: string }
  | { readonly kind: 'unverified' };

/** A bundle copied into a private directory and checked; every later step reads only from here. */
export interface StagedBundle {
  /** The private copy (mode 0700); remove it with `dispose`. */
  readonly dir: string;
  readonly manifest: Manifest;
  readonly manifestSha256: string;
  readonly topology: string;
  readonly secrets: string;
  readonly backups: readonly { readonly name: string; readonly path: string }[];
  dispose(): Promise<void>;
}

const MANIFEST_MAX_BYTES = 1024 * 1024;
/** O_NOFOLLOW refuses a symlink; O_NONBLOCK keeps a FIFO from blocking the open (fstat then refuses it). */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Copies a bundle into a fresh private directory under `stagingRoot`
 * (`<pid>-XXXXXX`, mode 0700, see stagingDirectory), accepting only regular
 * files with the names the manifest gives — no symlinks, devices, FIFOs or
 * extra entries — and checks each copy's size and sha256 while it is copied.
 * The manifest is authenticated first, as `trust` says. With a key, encrypted
 * files are decrypted in the private directory. Nothing outside the private
 * directory (and the staging root holding it) is created; on any refusal it is
 * removed again. A staging directory whose process is gone (an import killed
 * midway, which can leave decrypted secrets) is removed first.
 */
export async function stageBundle(bundle: string, trust: BundleTrust, stagingRoot: string): Promise<StagedBundle> {
  await removeStaleStaging(stagingRoot);
  const manifestBytes = await readSmallRegular(join(bundle, MANIFEST_FILE), MANIFEST_MAX_BYTES).catch(
    (error: unknown) => {
      if (error instanceof DistctlError) throw error;
      throw new DistctlError('BUNDLE_NOT_FOUND', `${bundle} holds no ${MANIFEST_FILE}`, {
        hint: 'Point distctl import at a directory written by `distctl export`.',
      });
    },
  );
  const manifestSha256 = createHash('sha256').update(manifestBytes).digest('hex');
  const manifest = parseManifest(manifestBytes.toString('utf8'), join(bundle, MANIFEST_FILE));
  await authenticate(bundle, manifest, manifestBytes, manifestSha256, trust);
  await checkListing(bundle, manifest);

  const dir = await stagingDirectory(stagingRoot);
  const dispose = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await mkdir(join(dir, BUNDLE_SECRETS), { mode: 0o700 });
    const damaged: string[] = [];
    for (const entry of manifestFiles(manifest)) {
      const problem = await copyVerified(join(bundle, entry.file), join(dir, entry.file), entry);
      if (problem !== null) damaged.push(`${entry.file}: ${problem}`);
    }
    if (damaged.length > 0) {
      throw new DistctlError('BUNDLE_DAMAGED', `the bundle ${bundle} is incomplete or damaged; nothing was changed`, {
        details: damaged,
        hint: 'Copy the bundle again from where it was exported.',
      });
    }
    if (manifest.encryption) {
      if (trust.kind !== 'key')
        throw new DistctlError('BUNDLE_KEY_REQUIRED', `the bundle ${bundle} is encrypted; nothing was changed`, {
          hint: 'Pass the key file it was exported with: --key FILE.',
        });
      if (manifest.key === null)
        throw new DistctlError('BUNDLE_INVALID', 'an encrypted bundle without key parameters', {
          hint: 'Export the deployment again.',
        });
      const { encryption } = await deriveKeys(trust.key, manifest.key.salt);
      for (const entry of manifestFiles(manifest)) {
        const plain = entry.file.slice(0, -ENCRYPTED_SUFFIX.length);
        await decryptFile(encryption, join(dir, entry.file), join(dir, plain), entry.file);
        await rm(join(dir, entry.file));
      }
    }
    const plainName = (file: string): string => (manifest.encryption ? file.slice(0, -ENCRYPTED_SUFFIX.length) : file);
    return {
      dir,
      manifest,
      manifestSha256,
      topology: join(dir, plainName(manifest.topology.file)),
      secrets: join(dir, BUNDLE_SECRETS),
      backups: manifest.containers.map((entry) => ({ name: entry.name, path: join(dir, plainName(entry.file)) })),
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** A private directory for this process under `root` (made 0700 if missing), named `<pid>-XXXXXX` by its owner. */
async function stagingDirectory(root: string): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  return mkdtemp(join(root, `${process.pid}-`));
}

/** Removes the staging directories under `root` whose owning process no longer runs; leaves everything else. */
async function removeStaleStaging(root: string): Promise<void> {
  const entries = await readdir(root).catch(() => []);
  for (const entry of entries) {
    const pid = /^(\d+)-/.exec(entry)?.[1];
    if (pid !== undefined && !isRunning(Number(pid))) await rm(join(root, entry), { recursive: true, force: true });
  }
}

/** Whether process `pid` exists: signal 0 checks without sending; EPERM means it exists but is not ours. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function authenticate(
  bundle: string,
  manifest: Manifest,
  bytes: Buffer,
  sha256: string,
  trust: BundleTrust,
): Promise<void> {
  if (trust.kind === 'unverified') return;
  if (trust.kind === 'digest') {
    if (trust.sha256.toLowerCase() !== sha256) {
      throw new DistctlError(
        'BUNDLE_NOT_AUTHENTIC',
        `the manifest of ${bundle} has sha256 ${sha256}, not the ${trust.sha256} given; nothing was changed`,
        {
          hint:
            'The bundle is not the one that was exported (or the digest was mistyped). ' +
            'Compare with what `distctl export` printed.',
        },
      );
    }
    return;
  }
  if (manifest.key === null) {
    throw new DistctlError(
      'BUNDLE_NOT_SIGNED',
      `the bundle ${bundle} was exported without a key, so --key cannot check it; nothing was changed`,
      {
        hint: 'Check it with --manifest-sha256 HEX (printed by export) instead, or export again with --key.',
      },
    );
  }
  const mac = await readSmallRegular(join(bundle, MANIFEST_MAC_FILE), 1024).catch((error: unknown) => {
    if (error instanceof DistctlError) throw error;
    throw new DistctlError(
      'BUNDLE_NOT_AUTHENTIC',
      `${join(bundle, MANIFEST_MAC_FILE)} is missing; nothing was changed`,
      { hint: 'Copy the bundle again from where it was exported.' },
    );
  });
  if (!macMatches((await deriveKeys(trust.key, manifest.key.salt)).mac, bytes, mac.toString('utf8'))) {
    throw new DistctlError(
      'BUNDLE_NOT_AUTHENTIC',
      `the manifest of ${bundle} is not signed by this key; nothing was changed`,
      {
        hint: 'Either the key is not the one the bundle was exported with, or the bundle was changed after export.',
      },
    );
  }
}

/** The bundle directory holds exactly what the manifest names, each of the right kind. */
async function checkListing(bundle: string, manifest: Manifest): Promise<void> {
  const files = manifestFiles(manifest).map((entry) => entry.file);
  const expectedTop = new Set([
    MANIFEST_FILE,
    ...(manifest.key ? [MANIFEST_MAC_FILE] : []),
    BUNDLE_SECRETS,
    ...files.filter((file) => !file.includes('/')),
  ]);
  const problems: string[] = [];
  for (const name of await readdir(bundle))
    if (!expectedTop.has(name)) problems.push(`${name}: not part of the bundle`);
  const secretsInfo = await lstat(join(bundle, BUNDLE_SECRETS)).catch(() => null);
  if (secretsInfo !== null && !secretsInfo.isDirectory())
    problems.push(`${BUNDLE_SECRETS}: not a directory (${kindOf(secretsInfo)})`);
  else if (secretsInfo !== null) {
    const expectedSecrets = new Set(manifest.secrets.map((entry) => entry.file.slice(BUNDLE_SECRETS.length + 1)));
    for (const name of await readdir(join(bundle, BUNDLE_SECRETS)))
      if (!expectedSecrets.has(name)) problems.push(`${BUNDLE_SECRETS}/${name}: not part of the bundle`);
  }
  if (problems.length > 0) {
    throw new DistctlError(
      'BUNDLE_UNEXPECTED_ENTRY',
      `the bundle ${bundle} holds entries its manifest does not list; nothing was changed`,
      {
        details: problems,
        hint:
          'A bundle holds only what `distctl export` wrote. Remove the extra entries if you put them there, ' +
          'or copy the bundle again.',
      },
    );
  }
}

/** Reads a small file that must be a regular file (not a symlink, device or FIFO). */
async function readSmallRegular(path: string, maxBytes: number): Promise<Buffer> {
  const handle = await openRegular(path);
  try {
    const info = await handle.stat();
    if (info.size > maxBytes)
      throw new DistctlError(
        'BUNDLE_UNSAFE_ENTRY',
        `${path} is ${info.size} bytes, more than the ${maxBytes} it may be; nothing was changed`,
        { hint: 'Copy the bundle again from where it was exported.' },
      );
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** Opens a bundle file for reading, refusing anything but a regular file. ENOENT passes through. */
async function openRegular(path: string): Promise<Awaited<ReturnType<typeof open>>> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw unsafe(path, 'a symbolic link');
    throw error;
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw unsafe(path, kindOf(info));
  }
  return handle;
}

function unsafe(path: string, what: string): DistctlError {
  return new DistctlError('BUNDLE_UNSAFE_ENTRY', `${path} is ${what}, not a regular file; nothing was changed`, {
    hint:
      'A bundle holds only regular files written by `distctl export`; distctl never follows links or reads ' +
      'devices out of a bundle.',
  });
}

function kindOf(info: {
  isSymbolicLink(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (info.isSymbolicLink()) return 'a symbolic link';
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  if (info.isSocket()) return 'a socket';
  return 'a regular file';
}

/**
 * Copies one bundle file into the private directory, hashing while copying and
 * reading no more than the manifest's size; returns what is wrong, or null.
 */
async function copyVerified(from: string, to: string, entry: BundleFile): Promise<string | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await openRegular(from);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const size = (await handle.stat()).size;
    if (size !== entry.bytes) return `content differs from the manifest (${size} bytes, expected ${entry.bytes})`;
    const hash = createHash('sha256');
    let copied = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        copied += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const out = createWriteStream(to, { flags: 'wx', mode: 0o600 });
    if (entry.bytes === 0) await new Promise<void>((resolve, reject) => out.end(() => resolve()).once('error', reject));
    else await pipeline(handle.createReadStream({ start: 0, end: entry.bytes - 1, autoClose: false }), counted, out);
    const sha256 = hash.digest('hex');
    if (copied !== entry.bytes || sha256 !== entry.sha256)
      return `content differs from the manifest (sha256 ${sha256}, expected ${entry.sha256})`;
    return null;
  } finally {
    await handle.close();
  }
}
