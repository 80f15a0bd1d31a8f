import { copyFile, chmod, mkdir, readdir, realpath } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { applyPlan } from '../apply/index.js';
import type { DesiredState } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { onRemote, type IncusCall, type IncusClient } from '../incus/client.js';
import { createProjectCall } from '../incus/project.js';
import { observeIncus } from '../observe/incus.js';
import { planUp } from '../plan/index.js';
import { copySecrets } from '../secrets/store.js';
import { secretsDir, stagingRoot } from '../state/paths.js';
import { readBackupDefinitions, unsafeInstanceSettings } from '../transfer/backup-config.js';
import { readBundleKey } from '../transfer/bundle-key.js';
import { BUNDLE_TOPOLOGY } from '../transfer/manifest.js';
import { stageBundle, type BundleTrust, type StagedBundle } from '../transfer/stage.js';
import { assertNoConflicts, loadDeployment, whileLocked, type Deployment } from './context.js';
import type { CommandResult } from './result.js';
import { converge, type UpOptions } from './up.js';

/** Options of `distctl import`: a bundle directory, how to trust it, and what `up` needs to converge afterwards. */
export interface ImportOptions extends Omit<UpOptions, 'file' | 'prune'> {
  readonly bundle: string;
  /** Storage pool for the imported containers; default the pool Incus picks. */
  readonly storage?: string;
  /** The operator's key file the bundle was exported with (--key): checks the manifest's HMAC, decrypts. */
  readonly keyFile?: string;
  /** The manifest's sha256 as `export` printed it, passed on out of band (--manifest-sha256). */
  readonly manifestSha256?: string;
  /** Import without checking authenticity (--unverified): an explicit choice, never the default. */
  readonly unverified?: boolean;
  /** Accept privileged, raw.*, host-device and undeclared-proxy settings in the backups (--allow-unsafe-config). */
  readonly allowUnsafeConfig?: boolean;
}

const RESTORE_TIMEOUT_MS = 60 * 60_000;

/**
 * `distctl import DIR`: restores a bundle written by `distctl export` on this
 * Incus host. Before anything changes it authenticates the manifest (key,
 * out-of-band digest, or an explicit --unverified), copies the bundle's
 * regular files into a private directory while checking their sha256, and
 * checks the topology and each backup's instance configuration; every later
 * step reads only that private copy. Then, holding the deployment lock: the
 * project (restricted) and bridge as the topology says, the secrets, every
 * container from its backup, and a converge like `up`. It restores into an
 * empty deployment only.
 */
export async function importCommand(options: ImportOptions): Promise<CommandResult> {
  const bundle = resolve(options.bundle);
  const staged = await stageBundle(bundle, await bundleTrust(options), stagingRoot(options.stateDirFor));
  try {
    return await restore(options, bundle, staged);
  } finally {
    await staged.dispose();
  }
}

/** How the operator asked to trust the bundle; exactly one way is required. */
async function bundleTrust(options: ImportOptions): Promise<BundleTrust> {
  const given = [
    options.keyFile !== undefined,
    options.manifestSha256 !== undefined,
    options.unverified === true,
  ].filter(Boolean).length;
  if (given === 0) {
    throw new DistctlError(
      'BUNDLE_UNVERIFIED',
      'import needs to know the bundle is the one you exported; nothing was changed',
      {
        hint:
          'Pass --key FILE (the key given to `export --key`), or --manifest-sha256 HEX (printed by export, passed ' +
          'on out of band), or --unverified to trust the bundle as it is.',
      },
    );
  }
  if (given > 1)
    throw new DistctlError('USAGE', 'use one of --key, --manifest-sha256 and --unverified', {
      hint: 'They are alternative ways to trust a bundle.',
    });
  if (options.keyFile !== undefined) return { kind: 'key', key: await readBundleKey(options.keyFile) };
  if (options.manifestSha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(options.manifestSha256))
      throw new DistctlError('USAGE', '--manifest-sha256 must be 64 hexadecimal digits', {
        hint: 'Copy it from the output of `distctl export`.',
      });
    return { kind: 'digest', sha256: options.manifestSha256 };
  }
  return { kind: 'unverified' };
}

async function restore(options: ImportOptions, bundle: string, staged: StagedBundle): Promise<CommandResult> {
  const { manifest } = staged;
  const loaded = await loadDeployment(staged.topology);
  const { desired } = loaded;
  const declared = desired.containers.map((container) => container.name).sort();
  const backedUp = manifest.containers.map((container) => container.name).sort();
  if (desired.project !== manifest.project || declared.join() !== backedUp.join()) {
    throw new DistctlError(
      'BUNDLE_INCONSISTENT',
      `the bundle's manifest (project ${manifest.project}: ${backedUp.join(', ')}) does not match its topology ` +
        `(project ${desired.project}: ${declared.join(', ')})`,
      {
        hint: 'The bundle was changed after export; export the deployment again.',
      },
    );
  }
  await assertArchiveInside(desired, bundle);
  await assertSafeBackups(staged, desired, options.allowUnsafeConfig === true);

  const { ui, client } = options;
  if (options.unverified)
    ui.step({ event: 'info', message: `importing ${bundle} without checking who wrote it (--unverified)` });
  const stateDir = options.stateDirFor(desired.project);
  return whileLocked(stateDir, 'import', async () => {
    const observed = await observeIncus(client, desired);
    const present = observed.instances
      .filter((instance) => declared.includes(instance.name))
      .map((instance) => instance.name);
    if (present.length > 0) {
      throw new DistctlError(
        'IMPORT_TARGET_NOT_EMPTY',
        `project ${desired.project} already has ${present.join(', ')} on this host; nothing was changed`,
        {
          hint:
            'import restores into an empty deployment: remove the existing one (`distctl down`) or import on ' +
            'another host.',
        },
      );
    }
    const plan = planUp(desired, observed);
    assertNoConflicts(plan);
    const secrets = secretsDir(stateDir);
    const existingSecrets = (await readdir(secrets).catch(() => [] as string[])).filter(
      (name) => !name.startsWith('.'),
    );
    if (existingSecrets.length > 0) {
      throw new DistctlError(
        'IMPORT_SECRETS_EXIST',
        `${secrets} already holds secrets of a deployment named ${desired.project}; nothing was changed`,
        {
          hint:
            'Those belong to another deployment of the same project name; remove that deployment ' +
            '(`distctl down`) first.',
        },
      );
    }

    // A new project is created restricted by import itself (plan's create-project makes an unrestricted one).
    const restrict = options.allowUnsafeConfig !== true && observed.project === null;
    const foundation = plan.actions.filter(
      (action) =>
        (action.kind === 'create-project' && !restrict) ||
        action.kind === 'create-network' ||
        action.kind === 'update-network',
    );
    if (restrict) {
      ui.step({
        event: 'start',
        message: `+ project ${desired.project} (restricted)`,
        subject: `project ${desired.project}`,
      });
      for (const call of restrictedProject(desired, options.storage ?? (await defaultRootPool(client, desired.remote))))
        await client.run(call);
    } else if (options.allowUnsafeConfig !== true && observed.project?.config.restricted !== 'true') {
      ui.step({
        event: 'info',
        message: `project ${desired.project} exists already and is not restricted; it is left as it is`,
      });
    }
    await applyPlan(client, { ...plan, actions: foundation }, { onProgress: (event) => ui.step(event) });
    const restoredSecrets = await copySecrets(staged.secrets, secrets);
    // The verified topology stays with the deployment: the bundle's own copy could change after this check.
    const file = join(stateDir, BUNDLE_TOPOLOGY);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await copyFile(staged.topology, file);
    await chmod(file, 0o600);
    for (const backup of staged.backups) {
      ui.step({ event: 'start', message: `restoring ${backup.name}`, subject: backup.name });
      try {
        await client.run({
          args: [
            'import',
            ...(options.storage ? ['--storage', options.storage] : []),
            '--quiet',
            '--',
            backup.path,
            onRemote(desired.remote, backup.name),
          ],
          project: desired.project,
          timeoutMs: RESTORE_TIMEOUT_MS,
        });
      } catch (error) {
        if (!(error instanceof DistctlError)) throw error;
        throw new DistctlError('IMPORT_FAILED', `restoring container ${backup.name} failed: ${error.message}`, {
          hint:
            `${error.hint ? `${error.hint} ` : ''}Remove the partial import with ` +
            `\`distctl down -f ${file} --yes\`, then import again.`,
          cause: error,
        });
      }
      ui.step({ event: 'done', message: `restored ${backup.name}`, subject: backup.name });
    }
    ui.step({
      event: 'info',
      message: `restored ${staged.backups.length} containers and ${restoredSecrets} secrets; converging`,
    });
    const deployment: Deployment = { ...loaded, file };
    const result = await converge({ ...options, file, prune: false }, deployment, 'import');
    const summary = `project ${desired.project} restored from ${bundle}; its verified topology is ${file}`;
    return {
      ...result,
      human: `${summary}\n${result.human}`,
      json: {
        ...(result.json as Record<string, unknown>),
        imported: staged.backups.map((backup) => backup.name),
        topology: file,
        manifestSha256: staged.manifestSha256,
      },
    };
  });
}

/**
 * The calls that create the imported project restricted: Incus itself then
 * refuses privileged and nested containers, host disks and devices, and
 * networks other than the deployment's bridge — also for anything created in
 * it later. Allowed is what distctl needs: proxy devices (expose), backups
 * (export), cluster targets when the topology names them, and low-level
 * container keys, because every `incus export` backup carries `volatile.*`
 * keys that a restricted project otherwise forbids (measured on Incus 6.0) —
 * raw.lxc is refused by distctl's own check of the backups instead. Incus
 * restricts only projects with their own profiles, so the project has them
 * from the start, its `default` profile holding just the root disk on `pool`.
 */
export function restrictedProject(desired: DesiredState, pool: string): IncusCall[] {
  const targets = desired.containers.some((container) => container.target !== null) || desired.spreadSets.length > 0;
  const project = desired.project;
  const on = (name: string): string => onRemote(desired.remote, name);
  return [
    createProjectCall(project, true, desired.remote),
    { args: ['profile', 'device', 'add', '--', on('default'), 'root', 'disk', 'path=/', `pool=${pool}`], project },
    {
      args: [
        'project',
        'set',
        '--',
        on(project),
        'restricted=true',
        'restricted.devices.proxy=allow',
        'restricted.backups=allow',
        'restricted.containers.lowlevel=allow',
        `restricted.networks.access=${desired.network.name}`,
        ...(targets ? ['restricted.cluster.target=allow'] : []),
      ],
    },
  ];
}

/**
 * The pool of the root disk of the default project's default profile: where instances go unless --storage says
 * otherwise.
 */
async function defaultRootPool(client: IncusClient, remote: string | null): Promise<string> {
  const profile = await client.json<{ devices?: Record<string, Record<string, string>> }>({
    args: ['query', onRemote(remote, '/1.0/profiles/default')],
  });
  const root = Object.values(profile.devices ?? {}).find((device) => device.type === 'disk' && device.path === '/');
  if (root?.pool === undefined) {
    throw new DistctlError(
      'IMPORT_NO_STORAGE',
      'the default profile has no root disk, so there is no storage pool to restore into; nothing was restored',
      {
        hint: 'Name one with --storage POOL, or prepare the host with `distctl doctor --fix`.',
      },
    );
  }
  return root.pool;
}

/** A server archive the topology names must lie inside the bundle, after following links. */
async function assertArchiveInside(desired: DesiredState, bundle: string): Promise<void> {
  const source = desired.mongodb.source;
  if (source.kind !== 'archive') return;
  const lexical = resolve(bundle, source.path);
  const real = await realpath(lexical).catch(() => lexical);
  const root = await realpath(bundle);
  if (!isInside(lexical, bundle) || !isInside(real, root)) {
    throw new DistctlError(
      'BUNDLE_ARCHIVE_OUTSIDE',
      `the bundle's topology names mongodb.source.archive ${source.path}, which resolves to ${real}, outside the ` +
        'bundle; nothing was changed',
      {
        hint:
          'A bundle may not point distctl at files elsewhere on this host. Use a path inside the bundle directory, ' +
          'or mongodb.source: repository.',
      },
    );
  }
}

function isInside(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** Every backup's instance definitions stay within what distctl creates, unless the operator allows more. */
async function assertSafeBackups(staged: StagedBundle, desired: DesiredState, allowUnsafe: boolean): Promise<void> {
  const problems: string[] = [];
  for (const backup of staged.backups) {
    const proxies = desired.proxies.filter((proxy) => proxy.container === backup.name);
    problems.push(
      ...unsafeInstanceSettings(await readBackupDefinitions(backup.path), { proxies }).map(
        (line) => `${backup.name}: ${line}`,
      ),
    );
  }
  if (problems.length > 0 && !allowUnsafe) {
    throw new DistctlError(
      'BUNDLE_UNSAFE_INSTANCE',
      `the bundle's backups would create containers with access to this host; nothing was changed`,
      {
        details: problems,
        hint:
          'distctl never creates such settings. If you made them yourself and trust the bundle, pass ' +
          '--allow-unsafe-config (the project is then not restricted either).',
      },
    );
  }
}
