import type { DesiredState } from '../derive/types.js';
import { onRemote } from '../incus/client.js';
import { PLACEMENT_KEY, type IncusClusterMember } from '../incus/types.js';
import { usesCluster, type ObservedIncus } from '../observe/incus.js';
import type { Conflict, Notice } from './types.js';

/**
 * Where the topology wants containers, decided once per run from the observed cluster. The only placement
 * decision distctl makes is `spread`'s; a `target:` is the user's, everything else is Incus's own placement.
 */
export interface Placement {
  /** Member each placed container belongs on (its `target:` or spread's choice); unlisted: Incus chooses. */
  readonly members: ReadonlyMap<string, string>;
  /** Why a container belongs where it does, for messages (`target: node2`, `spread of rsA`). */
  readonly reasons: ReadonlyMap<string, string>;
  /** The cluster's members, sorted by name; empty when the server is not clustered or was not asked. */
  readonly cluster: readonly IncusClusterMember[];
  /** What stops `up` before any change: no cluster, unknown member, too few online members. */
  readonly conflicts: readonly Conflict[];
  /** Containers running on another member than the one they belong on (placement drift). */
  readonly drift: readonly Notice[];
}

/**
 * The cluster members that cannot serve their instances now (anything but Online: Offline, Evacuated, ...),
 * with their state. Instances on them are reported, never changed: the member's return (or `undrain`) is the fix.
 */
export function unavailableMembers(observed: ObservedIncus): Map<string, string> {
  return new Map(
    (observed.cluster?.members ?? [])
      .filter((member) => member.status !== 'Online')
      .map((member) => [member.server_name, member.status]),
  );
}

/** The notice for an instance on a member that is not Online, or null when its member serves it. */
export function unavailableNotice(
  unavailable: ReadonlyMap<string, string>,
  name: string,
  location: string | undefined,
): Notice | null {
  const status = location === undefined ? undefined : unavailable.get(location);
  if (status === undefined) return null;
  return {
    code: 'member-unavailable',
    subject: `container ${name}`,
    message:
      status === 'Evacuated'
        ? `is on cluster member ${location ?? ''}, which is Evacuated (drained): left stopped until ` +
          `\`distctl undrain ${location ?? ''}\` brings the member back`
        : `is on cluster member ${location ?? ''}, which is ${status}: left as it is until the member is back`,
  };
}

/**
 * Places the containers: explicit targets first; then, per spread set in topology order, each container keeps
 * the member distctl placed it on (recorded at creation), else the one it runs on, when no other container of
 * the set has it; else it takes the first online member (by name) the set does not use yet. Deterministic for
 * the same topology and cluster, and stable: a running deployment is never re-shuffled because a member came
 * or went, and a moved container is the one reported.
 */
export function placeContainers(desired: DesiredState, observed: ObservedIncus): Placement {
  const members = new Map<string, string>();
  const reasons = new Map<string, string>();
  const conflicts: Conflict[] = [];
  const drift: Notice[] = [];
  const cluster = [...(observed.cluster?.members ?? [])].sort((a, b) => a.server_name.localeCompare(b.server_name));
  const result = (): Placement => ({ members, reasons, cluster, conflicts, drift });
  const where = desired.remote === null ? 'the local Incus' : `remote ${desired.remote}`;
  const pinned = desired.containers.filter((container) => container.target !== null);
  if (!usesCluster(desired) || (pinned.length === 0 && desired.spreadSets.length === 0)) return result();
  if (observed.cluster?.members === null || observed.cluster === undefined) {
    const users = [
      ...pinned.map((container) => `container ${container.name} (target)`),
      ...desired.spreadSets.map((set) => `replica set ${set.name} (spread)`),
    ];
    conflicts.push({
      code: 'not-a-cluster',
      subject: where,
      message: `${where} is not an Incus cluster, but ${users.join(', ')} need cluster members`,
      hint:
        'Set `incus: { remote: NAME }` to a cluster (`incus remote list`), or remove `target:` and `spread:` to ' +
        'run on one server.',
    });
    return result();
  }
  const names = new Set(cluster.map((member) => member.server_name));
  const online = cluster.filter((member) => member.status === 'Online').map((member) => member.server_name);
  const instances = new Map(observed.instances.map((instance) => [instance.name, instance]));
  for (const container of pinned) {
    const target = container.target ?? '';
    if (!names.has(target)) {
      conflicts.push({
        code: 'unknown-member',
        subject: `container ${container.name}`,
        message: `target ${target} is not a member of ${where} (members: ${[...names].join(', ')})`,
        hint: 'Set `target:` to a member `incus cluster list` shows, or remove it and let Incus place the container.',
      });
      continue;
    }
    const status = cluster.find((member) => member.server_name === target)?.status;
    if (!instances.has(container.name) && status !== 'Online') {
      conflicts.push({
        code: 'member-not-online',
        subject: `container ${container.name}`,
        message: `target ${target} is ${status ?? 'unknown'}, so the container cannot be created there`,
        hint: 'Bring the member back (`incus cluster list`), or change `target:`.',
      });
    }
    members.set(container.name, target);
    reasons.set(container.name, `target: ${target}`);
  }
  for (const set of desired.spreadSets) {
    const used = new Set(set.containers.flatMap((name) => members.get(name) ?? []));
    const free = (name: string | undefined): name is string => name !== undefined && !used.has(name);
    for (const name of set.containers) {
      if (members.has(name)) continue;
      const instance = instances.get(name);
      const member =
        [instance?.config[PLACEMENT_KEY], instance?.location]
          .filter((candidate) => candidate !== undefined && names.has(candidate))
          .find(free) ?? online.find(free);
      if (member === undefined) {
        conflicts.push({
          code: 'spread-too-few-members',
          subject: `replica set ${set.name}`,
          message:
            `spread needs ${set.containers.length} cluster members for containers ${set.containers.join(', ')}, ` +
            `but ${where} has ${online.length} online (${online.join(', ') || 'none'})`,
          hint: 'Bring members online (`incus cluster list`), or add members, or remove `spread: true` from the set.',
        });
        break;
      }
      used.add(member);
      members.set(name, member);
      reasons.set(name, `spread of ${set.name}`);
    }
  }
  for (const container of desired.containers) {
    const wanted = members.get(container.name);
    const instance = instances.get(container.name);
    if (wanted === undefined || instance?.location === undefined || instance.location === wanted) continue;
    const at = `--project ${desired.project}`;
    const ref = onRemote(desired.remote, container.name);
    drift.push({
      code: 'placement-drift',
      subject: `container ${container.name}`,
      message:
        `runs on member ${instance.location}, but belongs on ${wanted} (${reasons.get(container.name) ?? ''}); ` +
        `distctl does not move containers: \`distctl undrain ${wanted}\` after a drain, or ` +
        `\`incus stop ${ref} ${at} && incus move ${ref} --target ${wanted} ${at} && incus start ${ref} ${at}\``,
    });
  }
  return result();
}
