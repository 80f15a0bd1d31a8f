import { deriveDesiredState } from '../derive/index.js';
import type { DesiredState } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { formatProblem, requireTopology } from '../topology/load.js';
import type { Topology } from '../topology/schema.js';
import type { Plan } from '../plan/types.js';
import { lockDeployment } from '../state/lock.js';

/** A valid topology with its derived desired state: the first two stages every command shares. */
export interface Deployment {
  readonly file: string;
  readonly topology: Topology;
  readonly desired: DesiredState;
  /** Topology warnings, already formatted. */
  readonly warnings: readonly string[];
}

export async function loadDeployment(file: string): Promise<Deployment> {
  const { topology, warnings } = await requireTopology(file);
  return { file, topology, desired: deriveDesiredState(topology), warnings: warnings.map(formatProblem) };
}

/** Refuses a plan that would touch things distctl does not own, listing every conflict. */
export function assertNoConflicts(plan: Plan): void {
  if (plan.conflicts.length === 0) return;
  throw new DistctlError(
    'PLAN_CONFLICT',
    `cannot proceed: ${plan.conflicts.length} conflict${plan.conflicts.length === 1 ? '' : 's'} with what exists in Incus; nothing was changed`,
    {
      details: plan.conflicts.map((conflict) => `${conflict.message} — ${conflict.hint}`),
      hint: 'distctl only changes what it created. Resolve the conflicts above, then run again.',
    },
  );
}

/** Runs `work` holding the deployment's lock, so two commands never change one deployment at once. */
export async function whileLocked<T>(stateDir: string, command: string, work: () => Promise<T>): Promise<T> {
  const release = await lockDeployment(stateDir, command);
  try {
    return await work();
  } finally {
    await release();
  }
}
