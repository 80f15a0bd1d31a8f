import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { applyPlan } from '../apply/index.js';
import { DistctlError } from '../errors/index.js';
import { observeIncus } from '../observe/incus.js';
import { planUp } from '../plan/index.js';
import { copySecrets } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { BUNDLE_SECRETS, BUNDLE_TOPOLOGY, MANIFEST_FILE, fileSha256, parseManifest } from '../transfer/manifest.js';
import { assertNoConflicts, loadDeployment, whileLocked } from './context.js';
import type { CommandResult } from './result.js';
import { converge, type UpOptions } from './up.js';

/** Options of `distctl import`: a bundle directory plus what `up` needs to converge afterwards. */
export interface ImportOptions extends Omit<UpOptions, 'file' | 'prune'> {
  readonly bundle: string;
  /** Storage pool for the imported containers; default the pool Incus picks. */
  readonly storage?: string;
}

const RESTORE_TIMEOUT_MS = 60 * 60_000;

/**
 * `distctl import DIR`: restores a bundle written by `distctl export` on this
 * Incus host — project and bridge as the bundle's topology says, every
 * container from its backup (checked against the manifest's sha256 before
 * anything changes), the deployment's secrets — and then converges like `up`
 * (start, addresses, proxies, databases, services). It restores into an empty
 * deployment only: containers of the same project already here are a conflict.
 */
export async function importCommand(options: ImportOptions): Promise<CommandResult> {
  const bundle = resolve(options.bundle);
  const manifestText = await readFile(join(bundle, MANIFEST_FILE), 'utf8').catch(() => {
    throw new DistctlError('BUNDLE_NOT_FOUND', `${bundle} holds no ${MANIFEST_FILE}`, { hint: 'Point distctl import at a directory written by `distctl export`.' });
  });
  const manifest = parseManifest(manifestText, join(bundle, MANIFEST_FILE));
  const file = join(bundle, BUNDLE_TOPOLOGY);
  const deployment = await loadDeployment(file);
  const { desired } = deployment;
  const declared = desired.containers.map((container) => container.name).sort();
  const backedUp = manifest.containers.map((container) => container.name).sort();
  if (desired.project !== manifest.project || declared.join() !== backedUp.join()) {
    throw new DistctlError('BUNDLE_INCONSISTENT', `the bundle's manifest (project ${manifest.project}: ${backedUp.join(', ')}) does not match its topology (project ${desired.project}: ${declared.join(', ')})`, {
      hint: 'The bundle was changed after export; export the deployment again.',
    });
  }

  const { ui, client } = options;
  ui.step({ event: 'start', message: `checking ${manifest.containers.length} backups` });
  const damaged: string[] = [];
  for (const entry of manifest.containers) {
    const path = join(bundle, entry.file);
    const size = await stat(path).then((info) => info.size, () => null);
    if (size === null) damaged.push(`${entry.file}: missing`);
    else if (size !== entry.bytes || (await fileSha256(path)) !== entry.sha256) damaged.push(`${entry.file}: content differs from the manifest (${size} bytes, expected ${entry.bytes})`);
  }
  if (damaged.length > 0) {
    throw new DistctlError('BUNDLE_DAMAGED', `the bundle ${bundle} is incomplete or damaged; nothing was changed`, { details: damaged, hint: 'Copy the bundle again from where it was exported.' });
  }

  const stateDir = options.stateDirFor(desired.project);
  return whileLocked(stateDir, 'import', async () => {
    const observed = await observeIncus(client, desired.project);
    const present = observed.instances.filter((instance) => declared.includes(instance.name)).map((instance) => instance.name);
    if (present.length > 0) {
      throw new DistctlError('IMPORT_TARGET_NOT_EMPTY', `project ${desired.project} already has ${present.join(', ')} on this host; nothing was changed`, {
        hint: 'import restores into an empty deployment: remove the existing one (`distctl down`) or import on another host.',
      });
    }
    const plan = planUp(desired, observed);
    assertNoConflicts(plan);
    const secrets = secretsDir(stateDir);
    const existingSecrets = (await readdir(secrets).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));
    if (existingSecrets.length > 0) {
      throw new DistctlError('IMPORT_SECRETS_EXIST', `${secrets} already holds secrets of a deployment named ${desired.project}; nothing was changed`, {
        hint: 'Those belong to another deployment of the same project name; remove that deployment (`distctl down`) first.',
      });
    }

    const foundation = plan.actions.filter((action) => action.kind === 'create-project' || action.kind === 'create-network' || action.kind === 'update-network');
    await applyPlan(client, { ...plan, actions: foundation }, { onProgress: (event) => ui.step(event) });
    const restoredSecrets = await copySecrets(join(bundle, BUNDLE_SECRETS), secrets);
    for (const entry of manifest.containers) {
      ui.step({ event: 'start', message: `restoring ${entry.name}`, subject: entry.name });
      try {
        await client.run({ args: ['import', join(bundle, entry.file), entry.name, ...(options.storage ? ['--storage', options.storage] : []), '--quiet'], project: desired.project, timeoutMs: RESTORE_TIMEOUT_MS });
      } catch (error) {
        if (!(error instanceof DistctlError)) throw error;
        throw new DistctlError('IMPORT_FAILED', `restoring container ${entry.name} failed: ${error.message}`, {
          hint: `${error.hint ? `${error.hint} ` : ''}Remove the partial import with \`distctl down -f ${file} --yes\`, then import again.`,
          cause: error,
        });
      }
      ui.step({ event: 'done', message: `restored ${entry.name}`, subject: entry.name });
    }
    ui.step({ event: 'info', message: `restored ${manifest.containers.length} containers and ${restoredSecrets} secrets; converging` });
    const result = await converge({ ...options, file, prune: false }, deployment, 'import');
    const summary = `project ${desired.project} restored from ${bundle}; its topology is ${file}`;
    return { ...result, human: `${summary}\n${result.human}`, json: { ...(result.json as Record<string, unknown>), imported: manifest.containers.map((entry) => entry.name), topology: file } };
  });
}
