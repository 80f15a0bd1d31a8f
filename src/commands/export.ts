import { createHash } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Ui } from './ui.js';
import { DistctlError } from '../errors/index.js';
import { onRemote, type IncusClient } from '../incus/client.js';
import { OWNER_KEY } from '../incus/types.js';
import { observeIncus } from '../observe/incus.js';
import { secretsDir } from '../state/paths.js';
import { deriveKeys, encryptFile, manifestMac, newSalt, readBundleKey } from '../transfer/bundle-key.js';
import {
  BUNDLE_SECRETS,
  BUNDLE_TOPOLOGY,
  ENCRYPTED_SUFFIX,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_MAC_FILE,
  fileSha256,
  type BundleFile,
  type Manifest,
} from '../transfer/manifest.js';
import { loadDeployment, whileLocked } from './context.js';
import type { CommandResult } from './result.js';

/** Options of `distctl export`, merged by the CLI. */
export interface ExportOptions {
  readonly file: string;
  /** Bundle directory; default `./distctl-export-<project>-<time>`. It must not exist or be empty. */
  readonly output?: string;
  readonly compression: 'gzip' | 'none';
  /** Stop each container while it is exported (a clean copy instead of a crash-consistent one). */
  readonly stop: boolean;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly stateDirFor: (project: string) => string;
  readonly version: string;
  readonly now?: () => Date;
  /** The operator's key file (--key): signs the manifest (HMAC), and encrypts the files with `encrypt`. */
  readonly keyFile?: string;
  /** Encrypt every file of the bundle with the key (--encrypt). */
  readonly encrypt?: boolean;
}

const BACKUP_TIMEOUT_MS = 60 * 60_000;

/**
 * `distctl export`: writes a bundle that `distctl import` turns back into the
 * same deployment on another Incus host: one `incus export` backup per
 * container, the topology, the deployment's secrets (mode 0600, in a 0700
 * directory) and a manifest with each backup's sha256. A failed export
 * removes the bundle it started, so nothing half-written is left.
 */
export async function exportCommand(options: ExportOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const stateDir = options.stateDirFor(desired.project);
  return whileLocked(stateDir, 'export', async () => {
    const { client, ui } = options;
    const observed = await observeIncus(client, desired);
    const byName = new Map(observed.instances.map((instance) => [instance.name, instance]));
    const absent = desired.containers.filter(
      (container) => byName.get(container.name)?.config[OWNER_KEY] !== desired.project,
    );
    if (absent.length > 0) {
      throw new DistctlError(
        'EXPORT_INCOMPLETE_DEPLOYMENT',
        `cannot export project ${desired.project}: ${absent.map((container) => container.name).join(', ')} ` +
          `${absent.length === 1 ? 'is' : 'are'} not a distctl container there`,
        {
          hint: 'Run `distctl up` first; export moves a complete deployment.',
        },
      );
    }

    const stamp = (options.now ?? (() => new Date()))().toISOString().replace(/[:.]/g, '-');
    const output = resolve(options.output ?? `distctl-export-${desired.project}-${stamp}`);
    const key = options.keyFile === undefined ? null : await readBundleKey(options.keyFile);
    if (options.encrypt && key === null)
      throw new DistctlError('USAGE', '--encrypt needs --key FILE', {
        hint: 'Create a key with `openssl rand -base64 32 > KEYFILE && chmod 600 KEYFILE` and pass --key KEYFILE.',
      });
    await preparePrivateDirectory(output);

    const started = Date.now();
    try {
      const keyParameters = key ? { kdf: 'scrypt' as const, salt: newSalt() } : null;
      const keys = key && keyParameters ? await deriveKeys(key, keyParameters.salt) : null;
      const encryption = options.encrypt ? ('aes-256-gcm' as const) : null;
      const encryptionKey = encryption && keys ? keys.encryption : null;
      /**
       * Stores `from` in the bundle as `name` (encrypted as `name.enc` with --encrypt), mode 0600; returns its
       * manifest entry.
       */
      const store = async (from: string, name: string, removeSource: boolean): Promise<BundleFile> => {
        const file = encryptionKey ? `${name}${ENCRYPTED_SUFFIX}` : name;
        if (encryptionKey) {
          await encryptFile(encryptionKey, from, join(output, file), file);
          if (removeSource) await rm(from);
        } else if (from !== join(output, file)) {
          await copyFile(from, join(output, file));
        }
        await chmod(join(output, file), 0o600);
        const [sha256, info] = await Promise.all([fileSha256(join(output, file)), stat(join(output, file))]);
        return { file, sha256, bytes: info.size };
      };
      const containers: Manifest['containers'][number][] = [];
      for (const container of desired.containers) {
        const fileName = `${container.name}.${options.compression === 'gzip' ? 'tar.gz' : 'tar'}`;
        const path = join(output, fileName);
        const stopHere = options.stop && byName.get(container.name)?.status === 'Running';
        const instance = onRemote(desired.remote, container.name);
        ui.step({
          event: 'start',
          message: `exporting ${container.name}${stopHere ? ' (stopped meanwhile)' : ''}`,
          subject: container.name,
        });
        if (stopHere) await client.run({ args: ['stop', '--', instance], project: desired.project });
        try {
          await client.run({
            args: [
              'export',
              '--instance-only',
              '--compression',
              options.compression === 'gzip' ? 'gzip' : 'none',
              '--quiet',
              '--',
              instance,
              path,
            ],
            project: desired.project,
            timeoutMs: BACKUP_TIMEOUT_MS,
          });
        } finally {
          if (stopHere) await client.run({ args: ['start', '--', instance], project: desired.project });
        }
        // incus writes the backup with the umask's mode; the 0700 directory keeps it private until this chmod.
        await chmod(path, 0o600);
        const entry = await store(path, fileName, true);
        containers.push({ name: container.name, ...entry });
        ui.step({
          event: 'done',
          message: `exported ${container.name} (${(entry.bytes / 1024 / 1024).toFixed(1)} MiB)`,
          subject: container.name,
        });
      }
      const topology = await store(options.file, BUNDLE_TOPOLOGY, false);
      await mkdir(join(output, BUNDLE_SECRETS), { mode: 0o700 });
      const secretsFrom = secretsDir(stateDir);
      const secretNames = (await readdir(secretsFrom).catch(() => [] as string[]))
        .filter((name) => !name.startsWith('.'))
        .sort();
      const secrets: BundleFile[] = [];
      for (const name of secretNames)
        secrets.push(await store(join(secretsFrom, name), `${BUNDLE_SECRETS}/${name}`, false));
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        project: desired.project,
        exportedAt: new Date().toISOString(),
        distctlVersion: options.version,
        key: keyParameters,
        encryption,
        topology,
        secrets,
        containers,
      };
      const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
      await writeFile(join(output, MANIFEST_FILE), manifestBytes, { mode: 0o600 });
      if (keys)
        await writeFile(join(output, MANIFEST_MAC_FILE), `${manifestMac(keys.mac, manifestBytes)}\n`, { mode: 0o600 });
      const manifestSha256 = createHash('sha256').update(manifestBytes).digest('hex');
      const bytes = containers.reduce((sum, entry) => sum + entry.bytes, 0);
      const seconds = (Date.now() - started) / 1000;
      const importWith = key ? `--key ${options.keyFile}` : `--manifest-sha256 ${manifestSha256}`;
      return {
        exitCode: 0,
        human: [
          `${ui.color.green('export:')} ${containers.length} containers of project ${desired.project} → ${output} ` +
            `(${(bytes / 1024 / 1024).toFixed(0)} MiB, ${seconds.toFixed(1)} s)`,
          `manifest sha256 ${manifestSha256}${key ? ' (signed with the key)' : ''}` +
            `${encryption ? '; files encrypted with the key' : ''}`,
          `The bundle holds the deployment's secrets (${secrets.length} files, mode 0600` +
            `${encryption ? ', encrypted' : ''}): keep it private. ` +
            `Restore with \`distctl import ${output} ${importWith}\`` +
            `${key ? '' : ' (send the digest by another channel than the bundle)'}.`,
        ].join('\n'),
        json: {
          ok: true,
          output,
          project: desired.project,
          containers,
          secrets: secrets.length,
          manifestSha256,
          signed: key !== null,
          encrypted: encryption !== null,
          seconds,
        },
      };
    } catch (error) {
      await rm(output, { recursive: true, force: true });
      throw error;
    }
  });
}

/**
 * The bundle directory: created 0700, or an existing one accepted only when it
 * is an empty real directory of this user that others cannot enter — the
 * backups hold the data, the keyfile and the services' environment files.
 */
async function preparePrivateDirectory(output: string): Promise<void> {
  const info = await lstat(output).catch(() => null);
  if (info === null) {
    await mkdir(output, { recursive: true, mode: 0o700 });
    // mkdir's mode is masked by the umask.
    await chmod(output, 0o700);
    return;
  }
  if (!info.isDirectory())
    throw new DistctlError(
      'EXPORT_TARGET_INVALID',
      `${output} exists and is not a directory${info.isSymbolicLink() ? ' (a symbolic link)' : ''}`,
      { hint: 'Name a new directory with --output.' },
    );
  if ((await readdir(output)).length > 0) {
    throw new DistctlError('EXPORT_TARGET_NOT_EMPTY', `${output} exists and is not empty`, {
      hint: 'Name a new directory with --output; distctl never overwrites a bundle.',
    });
  }
  if (info.uid !== process.getuid?.() || (info.mode & 0o077) !== 0) {
    throw new DistctlError(
      'EXPORT_TARGET_LOOSE',
      `${output} is open to others (mode ${(info.mode & 0o777).toString(8)}, owner uid ${info.uid}); ` +
        'a bundle holds the data and the secrets',
      {
        hint: `Run \`chmod 700 ${output}\` if it is yours, or let export create a new directory with --output.`,
      },
    );
  }
}
