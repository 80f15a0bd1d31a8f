import type { DerivedService } from '../derive/types.js';
import { execChecked, type ContainerOps } from '../incus/container-ops.js';
import { CONTAINER_NODE_PATH, parseMarker, servicePaths, type ArtifactHashes } from './artifacts.js';
import { parseUnitState, type UnitState } from './health.js';

/** What one container reports about its deployed services, read in a single exec. */
export interface ContainerProbe {
  /** sha256 of the container's Node binary, or null when there is none. */
  readonly nodeSha256: string | null;
  readonly services: ReadonlyMap<string, ServiceProbe>;
}

export interface ServiceProbe {
  /** Part hashes of what was last deployed, or null when nothing was (or the marker is unreadable). */
  readonly deployed: (ArtifactHashes & { artifact: string }) | null;
  /** `systemctl is-active`: active, inactive, failed, activating, ... */
  readonly active: string;
  /** The unit's lifecycle as the probe read it: the health check's first look needs no exec of its own. */
  readonly unit: UnitState;
  /** `systemctl is-enabled`: enabled, disabled, ... or '' when the unit does not exist. */
  readonly enabled: string;
}

/**
 * Where the probe keeps the Node binary's digest, keyed by the binary's size, mtime and inode: hashing the
 * ~95 MiB binary took 0.34 s of every no-op `up`. Replacing the binary (distctl renames a new one into place)
 * changes the inode, so the digest is computed again; this cache is the one thing the probe writes.
 * (`DISTCTL_NODE_DIGEST_CACHE` names another file: the tests run the script on the host.)
 */
export const NODE_DIGEST_CACHE = '/var/cache/distctl/node.sha256';

/**
 * Arguments after the script: NODE_PATH, then NAME UNIT MARKER per service.
 * Prints `node SHA|-`, then per service `marker NAME JSON`, `state NAME
 * ActiveState=… SubState=… NRestarts=…` and `enabled NAME STATE`, one per line
 * (one systemctl per service).
 */
export const PROBE_SCRIPT = [
  'node=$1; shift',
  `cache=\${DISTCTL_NODE_DIGEST_CACHE:-${NODE_DIGEST_CACHE}}`,
  'if [ -f "$node" ]; then',
  '  key=$(stat -c "%s %Y %i" "$node")',
  '  sha=$(sed -n "s/^$key \\([0-9a-f]\\{64\\}\\)$/\\1/p" "$cache" 2>/dev/null)',
  '  if [ -z "$sha" ]; then',
  '    sha=$(sha256sum "$node" | cut -d" " -f1)',
  '    { mkdir -p "${cache%/*}" && echo "$key $sha" > "$cache"; } 2>/dev/null',
  '  fi',
  '  echo "node $sha"',
  'else echo "node -"; fi',
  'while [ $# -ge 3 ]; do',
  '  echo "marker $1 $(head -c 4096 "$3" 2>/dev/null | tr -d "\\n")"',
  '  s=$(systemctl show "$2" -p ActiveState -p SubState -p NRestarts -p UnitFileState 2>/dev/null)',
  '  echo "state $1 $(echo "$s" | grep -v "^UnitFileState=" | tr "\\n" " ")"',
  '  echo "enabled $1 $(echo "$s" | sed -n "s/^UnitFileState=//p")"',
  '  shift 3',
  'done',
].join('\n');

/** The probe's argv for the services of one container. */
export function probeArgv(services: readonly Pick<DerivedService, 'name' | 'unitName'>[]): string[] {
  return [
    'sh',
    '-c',
    PROBE_SCRIPT,
    'sh',
    CONTAINER_NODE_PATH,
    ...services.flatMap((service) => [service.name, service.unitName, servicePaths(service).marker]),
  ];
}

/** Parses the probe's output. Services it does not mention count as never deployed and inactive. */
export function parseProbe(stdout: string, serviceNames: readonly string[]): ContainerProbe {
  let nodeSha256: string | null = null;
  const fields = new Map<string, { marker?: string; state?: string; enabled?: string }>(
    serviceNames.map((name) => [name, {}]),
  );
  for (const line of stdout.split('\n')) {
    const [key = '', ...rest] = line.split(' ');
    if (key === 'node') {
      const value = rest.join(' ').trim();
      nodeSha256 = /^[0-9a-f]{64}$/.test(value) ? value : null;
      continue;
    }
    const [name = '', ...valueParts] = rest;
    const entry = fields.get(name);
    if (entry === undefined) continue;
    const value = valueParts.join(' ').trim();
    if (key === 'marker') entry.marker = value;
    else if (key === 'state') entry.state = value;
    else if (key === 'enabled') entry.enabled = value;
  }
  const services = new Map<string, ServiceProbe>(
    [...fields].map(([name, entry]) => {
      const unit = parseUnitState(entry.state ?? '');
      const active = unit.activeState === 'unknown' ? 'inactive' : unit.activeState;
      return [name, { deployed: parseMarker(entry.marker), active, unit, enabled: entry.enabled ?? '' }];
    }),
  );
  return { nodeSha256, services };
}

/** Reads a container's Node digest and every listed service's marker and unit state in one exec. */
export async function probeContainer(
  ops: ContainerOps,
  container: string,
  services: readonly Pick<DerivedService, 'name' | 'unitName'>[],
): Promise<ContainerProbe> {
  const result = await execChecked(ops, container, probeArgv(services), 'reading the deployed services', {
    timeoutMs: 60_000,
    hint: 'Check that the container is running (`distctl status`); `distctl up` starts it.',
  });
  return parseProbe(
    result.stdout,
    services.map((service) => service.name),
  );
}
