import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Ui } from './ui.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { OWNER_KEY } from '../incus/types.js';
import { observeIncus } from '../observe/incus.js';
import { copySecrets } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { BUNDLE_SECRETS, BUNDLE_TOPOLOGY, MANIFEST_FILE, fileSha256, type Manifest } from '../transfer/manifest.js';
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
    const observed = await observeIncus(client, desired.project);
    const byName = new Map(observed.instances.map((instance) => [instance.name, instance]));
    const absent = desired.containers.filter((container) => byName.get(container.name)?.config[OWNER_KEY] !== desired.project);
    if (absent.length > 0) {
      throw new DistctlError('EXPORT_INCOMPLETE_DEPLOYMENT', `cannot export project ${desired.project}: ${absent.map((container) => container.name).join(', ')} ${absent.length === 1 ? 'is' : 'are'} not a distctl container there`, {
        hint: 'Run `distctl up` first; export moves a complete deployment.',
      });
    }

    const stamp = (options.now ?? (() => new Date()))().toISOString().replace(/[:.]/g, '-');
    const output = resolve(options.output ?? `distctl-export-${desired.project}-${stamp}`);
    const existing = await readdir(output).catch(() => null);
    if (existing !== null && existing.length > 0) {
      throw new DistctlError('EXPORT_TARGET_NOT_EMPTY', `${output} exists and is not empty`, { hint: 'Name a new directory with --output; distctl never overwrites a bundle.' });
    }
    await mkdir(output, { recursive: true, mode: 0o700 });

    const started = Date.now();
    try {
      const containers: Manifest['containers'][number][] = [];
      for (const container of desired.containers) {
        const fileName = `${container.name}.${options.compression === 'gzip' ? 'tar.gz' : 'tar'}`;
        const path = join(output, fileName);
        const stopHere = options.stop && byName.get(container.name)?.status === 'Running';
        ui.step({ event: 'start', message: `exporting ${container.name}${stopHere ? ' (stopped meanwhile)' : ''}`, subject: container.name });
        if (stopHere) await client.run({ args: ['stop', container.name], project: desired.project });
        try {
          await client.run({ args: ['export', container.name, path, '--instance-only', '--compression', options.compression === 'gzip' ? 'gzip' : 'none', '--quiet'], project: desired.project, timeoutMs: BACKUP_TIMEOUT_MS });
        } finally {
          if (stopHere) await client.run({ args: ['start', container.name], project: desired.project });
        }
        const [sha256, info] = await Promise.all([fileSha256(path), stat(path)]);
        containers.push({ name: container.name, file: fileName, sha256, bytes: info.size });
        ui.step({ event: 'done', message: `exported ${container.name} (${(info.size / 1024 / 1024).toFixed(1)} MiB)`, subject: container.name });
      }
      await copyFile(options.file, join(output, BUNDLE_TOPOLOGY));
      const secretsCopied = await copySecrets(secretsDir(stateDir), join(output, BUNDLE_SECRETS));
      const manifest: Manifest = { format: 1, project: desired.project, exportedAt: new Date().toISOString(), distctlVersion: options.version, containers };
      await writeFile(join(output, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
      const bytes = containers.reduce((sum, entry) => sum + entry.bytes, 0);
      const seconds = (Date.now() - started) / 1000;
      return {
        exitCode: 0,
        human: [
          `${ui.color.green('export:')} ${containers.length} containers of project ${desired.project} → ${output} (${(bytes / 1024 / 1024).toFixed(0)} MiB, ${seconds.toFixed(1)} s)`,
          `The bundle holds the deployment's secrets (${secretsCopied} files, mode 0600): keep it private. Restore with \`distctl import ${output}\`.`,
        ].join('\n'),
        json: { ok: true, output, project: desired.project, containers, secrets: secretsCopied, seconds },
      };
    } catch (error) {
      await rm(output, { recursive: true, force: true });
      throw error;
    }
  });
}
