import type { MongodProcess } from '../derive/types.js';
import type { ContainerOps } from '../incus/container-ops.js';
import { parseMongodVersion, type MongodProbe } from './install.js';
import {
  configPathFor,
  databaseDirectories,
  KEYFILE_PATH,
  parseContainerMemory,
  parseDigests,
  unitPathFor,
} from './units.js';

/**
 * Everything the databases stage reads from one container, in one exec:
 * the mongodb user's ids, the data and log directories, the memory that sizes
 * the cache, the digests of the keyfile, configs and units, the installed
 * mongod and its version, and each unit's enabled and active state. On a
 * converged container nothing else runs (no apt, no writes, no systemctl).
 */
export interface DatabaseContainerCheck {
  /** uid and gid of user mongodb, or null when the user does not exist. */
  readonly ids: { readonly uid: number; readonly gid: number } | null;
  /** `owner:group:mode` of each directory (e.g. `mongodb:mongodb:750`), absent when it does not exist. */
  readonly directories: ReadonlyMap<string, string>;
  /** Bytes available to the container (see parseContainerMemory), or null when unreadable. */
  readonly memoryBytes: number | null;
  /** sha256 of each file that exists, by path (the keyfile's content never leaves the container). */
  readonly digests: ReadonlyMap<string, string>;
  /** mongod on the container's PATH: its path and version (null when none runs), as probeMongod reports it. */
  readonly mongod: MongodProbe;
  /** `systemctl is-enabled` and `is-active` of each unit. */
  readonly units: ReadonlyMap<string, { readonly enabled: string; readonly active: string }>;
}

/**
 * Arguments: N, then N directories, then M, then M files, then the units.
 * Prints sections, each introduced by a `@name` line. Read-only.
 */
export const CHECK_SCRIPT = [
  'echo @ids; id -u mongodb 2>/dev/null && id -g mongodb 2>/dev/null',
  'echo @dirs; n=$1; shift',
  'while [ "$n" -gt 0 ]; do stat -c "%U:%G:%a %n" "$1" 2>/dev/null; shift; n=$((n - 1)); done',
  'echo @memory; cat /sys/fs/cgroup/memory.max 2>/dev/null; grep "^MemTotal:" /proc/meminfo',
  'echo @digests; n=$1; shift',
  'while [ "$n" -gt 0 ]; do sha256sum "$1" 2>/dev/null; shift; n=$((n - 1)); done',
  'echo @mongod; command -v mongod && mongod --version 2>&1 | head -n 1',
  // One systemctl for every unit (two per unit cost ~0.15 s each): `UNIT ENABLED ACTIVE` per unit, as
  // `is-enabled` and `is-active` would print them (a unit that does not exist: `UNIT  inactive`).
  'echo @units',
  '[ $# -gt 0 ] && systemctl show -p Id -p UnitFileState -p ActiveState -- "$@" 2>/dev/null | awk -F= \'' +
    '/^Id=/ { id = $2 } /^UnitFileState=/ { en = $2 } /^ActiveState=/ { ac = $2 } ' +
    '/^$/ { if (id != "") print id " " en " " ac; id = "" } END { if (id != "") print id " " en " " ac }\'',
  'exit 0',
].join('\n');

/** The files a container's mongods read: the keyfile when a member is among them, each config and unit. */
export function databaseFilePaths(processes: readonly MongodProcess[]): string[] {
  const keyFile = processes.some((process) => process.replicaSet !== null) ? [KEYFILE_PATH] : [];
  return [...keyFile, ...processes.flatMap((process) => [configPathFor(process), unitPathFor(process)])];
}

/** The check's argv for the mongods of one container. */
export function checkArgv(processes: readonly MongodProcess[]): string[] {
  const directories = databaseDirectories(processes);
  const files = databaseFilePaths(processes);
  return [
    'sh',
    '-c',
    CHECK_SCRIPT,
    'sh',
    String(directories.length),
    ...directories,
    String(files.length),
    ...files,
    ...processes.map((process) => process.unitName),
  ];
}

/** Parses the check's output; a missing or garbled section reads as "not there", which makes `up` converge it. */
export function parseCheck(stdout: string): DatabaseContainerCheck {
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of stdout.split('\n')) {
    if (/^@[a-z]+$/.test(line)) {
      current = [];
      sections.set(line.slice(1), current);
    } else current?.push(line);
  }
  const section = (name: string): string[] => sections.get(name) ?? [];
  const [uid, gid] = section('ids')
    .filter((line) => /^\d+$/.test(line))
    .map(Number);
  const directories = new Map(
    section('dirs').flatMap((line) => {
      const match = /^(\S+:\S+:\d+) (\/.*)$/.exec(line);
      return match?.[1] && match[2] ? [[match[2], match[1]] as const] : [];
    }),
  );
  const mongodLines = section('mongod').filter((line) => line.trim() !== '');
  const path = mongodLines[0]?.startsWith('/') ? mongodLines[0].trim() : '';
  const version = path === '' ? null : parseMongodVersion(mongodLines.join('\n'));
  const units = new Map(
    section('units').flatMap((line) => {
      const [unit, enabled = '', active = ''] = line.split(' ');
      return unit ? [[unit, { enabled, active }] as const] : [];
    }),
  );
  return {
    ids: uid === undefined || gid === undefined ? null : { uid, gid },
    directories,
    memoryBytes: parseContainerMemory(section('memory').join('\n')),
    digests: parseDigests(section('digests').join('\n')),
    mongod: { path, version, output: mongodLines.slice(-6) },
    units,
  };
}

/** Runs the check in `container` for its mongods (one exec). */
export async function checkDatabaseContainer(
  ops: ContainerOps,
  container: string,
  processes: readonly MongodProcess[],
): Promise<DatabaseContainerCheck> {
  const result = await ops.exec(container, checkArgv(processes), { timeoutMs: 60_000 });
  return parseCheck(result.stdout);
}
