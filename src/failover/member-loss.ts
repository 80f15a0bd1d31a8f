/**
 * What losing one Incus cluster member costs the replica sets: which of their
 * members run in containers on it, and whether each set keeps a voting
 * majority without them. `drain` and `failover-test --kill-member` both refuse
 * to take a set's majority away unless forced.
 */
import type { DerivedReplicaSet, DesiredState, ReplicaSetMember } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';

/** One replica set with members on the cluster member about to go away. */
export interface SetExposure {
  readonly set: DerivedReplicaSet;
  /** Its members whose containers run on that cluster member. */
  readonly lost: readonly ReplicaSetMember[];
  /** Whether the members left still form a majority of the voting members (every member votes). */
  readonly keepsMajority: boolean;
}

/** The replica sets that lose members when the containers in `lostContainers` stop; untouched sets are left out. */
export function exposureTo(desired: DesiredState, lostContainers: ReadonlySet<string>): SetExposure[] {
  return desired.replicaSets.flatMap((set) => {
    const lost = set.members.filter((member) => lostContainers.has(member.container));
    if (lost.length === 0) return [];
    // distctl's replica-set configs give every member one vote (reconcile.ts), so the majority is of all members.
    const keepsMajority = set.members.length - lost.length > set.members.length / 2;
    return [{ set, lost, keepsMajority }];
  });
}

/**
 * Refuses, before anything changes, when losing the cluster member would take
 * a set's majority: `what` names the action (`draining m2`), `consequence`
 * says why that is pointless or harmful. `force` lets it through.
 */
export function refuseMajorityLoss(
  exposures: readonly SetExposure[],
  member: string,
  options: { readonly what: string; readonly consequence: string; readonly force: boolean },
): void {
  const broken = exposures.filter((exposure) => !exposure.keepsMajority);
  if (broken.length === 0 || options.force) return;
  throw new DistctlError(
    'MEMBER_LOSS_NO_MAJORITY',
    `${options.what} would leave ${broken.map((exposure) => `replica set ${exposure.set.name}`).join(' and ')} ` +
      'without a majority; nothing was changed',
    {
      details: broken.map(
        ({ set, lost }) =>
          `${set.name}: ${lost.length} of its ${set.members.length} voting members run on ${member} ` +
          `(${lost.map((one) => `${one.host} in ${one.container}`).join(', ')}); ` +
          `the ${set.members.length - lost.length} left cannot elect a PRIMARY or acknowledge a w:"majority" write, ${options.consequence}`,
      ),
      hint:
        'Spread the set over cluster members (`spread: true` or `target:` in topology.yaml, then `distctl up`), ' +
        'or pass --force to do it anyway.',
    },
  );
}
