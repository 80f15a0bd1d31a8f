import pLimit from 'p-limit';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { IncusError } from '../incus/errors.js';
import { instanceAddresses } from '../observe/incus.js';
import { actionSubject, describeAction, incusCallsFor } from '../plan/calls.js';
import type { Action, Plan } from '../plan/types.js';
import type { ProgressEvent } from './progress.js';

/** Progress sink: the CLI edge turns these into spinner lines or JSON events. */
export type Progress = (event: ProgressEvent) => void;

/** Actions of one phase are independent of each other; phases run in this order. */
const PHASE: Record<Action['kind'], number> = {
  'create-project': 0,
  'create-network': 1,
  'update-network': 1,
  'create-instance': 2,
  'set-nic': 3,
  'start-instance': 4,
  'restart-instance': 4,
  'add-proxy': 5,
  'set-proxy': 5,
  'remove-proxy': 5,
  'delete-instance': 6,
  'delete-network': 7,
  'delete-project': 8,
};

/**
 * Carries out a plan: phases in order, the actions inside a phase concurrently
 * (at most `concurrency` at once). Stops at the first phase with a failure,
 * after letting that phase's other actions finish, so what succeeded stays
 * in place and the next run resumes from there.
 */
export async function applyPlan(client: IncusClient, plan: Plan, options: { concurrency?: number; onProgress?: Progress } = {}): Promise<{ applied: number }> {
  const progress = options.onProgress ?? (() => undefined);
  const limit = pLimit(options.concurrency ?? 4);
  const phases = new Map<number, Action[]>();
  for (const action of plan.actions) phases.set(PHASE[action.kind], [...(phases.get(PHASE[action.kind]) ?? []), action]);
  let applied = 0;
  for (const phase of [...phases.keys()].sort((a, b) => a - b)) {
    const outcomes = await Promise.allSettled(
      (phases.get(phase) ?? []).map((action) =>
        limit(async () => {
          const subject = actionSubject(action);
          progress({ event: 'start', message: describeAction(action), subject });
          for (const call of incusCallsFor(action, plan.project)) await client.run(call);
          applied += 1;
          progress({ event: 'done', message: describeAction(action), subject });
        }),
      ),
    );
    const failures = outcomes.flatMap((outcome, index) => (outcome.status === 'rejected' ? [{ action: (phases.get(phase) ?? [])[index], error: outcome.reason as unknown }] : []));
    if (failures.length > 0) {
      for (const failure of failures) progress({ event: 'fail', message: `${failure.action ? describeAction(failure.action) : 'action'}: ${(failure.error as Error).message}`, subject: failure.action ? actionSubject(failure.action) : '' });
      const first = failures[0]!;
      const subject = first.action ? actionSubject(first.action) : 'unknown';
      const cause = first.error;
      throw new DistctlError('APPLY_FAILED', `${subject}: ${cause instanceof Error ? cause.message : String(cause)}`, {
        details: failures.slice(1).map((failure) => `also failed: ${failure.action ? actionSubject(failure.action) : '?'}: ${(failure.error as Error).message}`),
        hint: `${cause instanceof IncusError ? `${cause.hint} ` : ''}What succeeded is kept; fix the cause and run \`distctl up\` again to resume.`,
        cause,
      });
    }
  }
  return { applied };
}

/**
 * Polls (one `incus list` per round for all containers) until every container
 * reports exactly its declared IPv4 on eth0. `incus wait` is not on every
 * Incus, hence polling.
 */
export async function waitForAddresses(
  client: IncusClient,
  project: string,
  containers: readonly { readonly name: string; readonly ipv4: string }[],
  options: { timeoutMs?: number; intervalMs?: number; onProgress?: Progress; sleep?: (ms: number) => Promise<void>; now?: () => number } = {},
): Promise<{ seconds: number }> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const intervalMs = options.intervalMs ?? 1_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const started = now();
  let seen = new Map<string, string>();
  for (;;) {
    const instances = await client.listInstances(project);
    const byName = new Map(instances.map((instance) => [instance.name, instance]));
    seen = new Map(
      containers.map((container) => {
        const instance = byName.get(container.name);
        const addresses = instance ? instanceAddresses(instance) : [];
        return [container.name, instance === undefined ? 'missing' : `${instance.status}${addresses.length ? `, eth0 ${addresses.join(' ')}` : ', no IPv4 on eth0 yet'}`];
      }),
    );
    const waiting = containers.filter((container) => {
      const instance = byName.get(container.name);
      const addresses = instance ? instanceAddresses(instance) : [];
      return !(instance?.status === 'Running' && addresses.length === 1 && addresses[0] === container.ipv4);
    });
    if (waiting.length === 0) return { seconds: (now() - started) / 1000 };
    if (now() - started >= timeoutMs) {
      throw new DistctlError('ADDRESS_TIMEOUT', `${waiting.map((container) => container.name).join(', ')} did not report the declared IPv4 address within ${Math.round(timeoutMs / 1000)} s`, {
        details: waiting.map((container) => `${container.name}: want ${container.ipv4}, Incus reports ${seen.get(container.name)}`),
        hint: 'The image must run a DHCP client on eth0 (images from `distctl image build` do). Look inside with `incus exec NAME --project ' + project + ' -- ip addr`; the containers are kept, so `distctl up` resumes.',
      });
    }
    options.onProgress?.({ event: 'wait', message: `waiting for addresses: ${waiting.map((container) => `${container.name} (${seen.get(container.name)})`).join('; ')}` });
    await sleep(intervalMs);
  }
}
