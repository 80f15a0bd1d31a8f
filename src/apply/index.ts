import pLimit from 'p-limit';
import { CommandFailedError, DistctlError } from '../errors/index.js';
import type { IncusCall, IncusClient, IncusScope } from '../incus/client.js';
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
  'write-address': 3,
  'start-instance': 4,
  'restart-instance': 4,
  'add-proxy': 5,
  'set-proxy': 5,
  'remove-proxy': 5,
  'delete-instance': 6,
  'delete-network': 7,
  'delete-project': 8,
};

/** The phases that concern one container each: they run as one chain per container, the chains side by side. */
const CONTAINER_PHASES = new Set([2, 3, 4, 5]);

/** The container an action of the container phases changes. */
function actionContainer(action: Action): string | null {
  switch (action.kind) {
    case 'create-instance':
    case 'set-nic':
      return action.container.name;
    case 'write-address':
    case 'start-instance':
    case 'restart-instance':
    case 'remove-proxy':
      return action.container;
    case 'add-proxy':
    case 'set-proxy':
      return action.proxy.container;
    default:
      return null;
  }
}

/**
 * The plan as steps: the project, then the network, then one chain per
 * container (create → NIC → static address → start → proxies, in that order), then deletions.
 * Chaining per container lets one container start while another is still
 * being created, instead of waiting for every create before the first start.
 */
function steps(plan: Plan): Action[][][] {
  const byPhase = new Map<number, Action[]>();
  for (const action of plan.actions)
    byPhase.set(PHASE[action.kind], [...(byPhase.get(PHASE[action.kind]) ?? []), action]);
  const result: Action[][][] = [];
  let chains = new Map<string, Action[]>();
  const flushChains = (): void => {
    if (chains.size > 0) result.push([...chains.values()]);
    chains = new Map();
  };
  for (const phase of [...byPhase.keys()].sort((a, b) => a - b)) {
    const actions = byPhase.get(phase) ?? [];
    if (CONTAINER_PHASES.has(phase)) {
      for (const action of actions) {
        const key = actionContainer(action) ?? describeAction(action);
        chains.set(key, [...(chains.get(key) ?? []), action]);
      }
      continue;
    }
    flushChains();
    result.push(actions.map((action) => [action]));
  }
  flushChains();
  return result;
}

/**
 * Carries out a plan step by step (see steps): the chains of a step run
 * concurrently (at most `concurrency` at once), each chain's actions in
 * order. A chain stops at its first failure; the other chains of the step
 * finish, then the step's failures are reported together and nothing later
 * runs, so what succeeded stays in place and the next run resumes from there.
 */
export async function applyPlan(
  client: IncusClient,
  plan: Plan,
  options: { concurrency?: number; onProgress?: Progress } = {},
): Promise<{ applied: number }> {
  const progress = options.onProgress ?? (() => undefined);
  const limit = pLimit(options.concurrency ?? 8);
  let applied = 0;
  for (const step of steps(plan)) {
    const outcomes = await Promise.allSettled(
      step.map((chain) =>
        limit(async () => {
          for (const action of chain) {
            const subject = actionSubject(action);
            progress({ event: 'start', message: describeAction(action), subject });
            try {
              for (const call of incusCallsFor(action, plan)) await runRetryingHostRace(client, call);
            } catch (error) {
              throw new ChainFailure(action, error);
            }
            applied += 1;
            progress({ event: 'done', message: describeAction(action), subject });
          }
        }),
      ),
    );
    const failures = outcomes.flatMap((outcome) =>
      outcome.status === 'rejected' ? [chainFailure(outcome.reason)] : [],
    );
    if (failures.length > 0) {
      // Five containers failing for one reason (say, the image is missing) is one problem, said once with their names.
      const groups = new Map<string, { subjects: string[]; error: unknown }>();
      for (const failure of failures) {
        const group = groups.get(failureCause(failure.error)) ?? { subjects: [], error: failure.error };
        group.subjects.push(actionSubject(failure.action));
        groups.set(failureCause(failure.error), group);
      }
      const said = [...groups.values()].map((group) => ({
        ...group,
        text: `${listSubjects(group.subjects)}: ${messageOf(group.error)}`,
      }));
      for (const group of said) progress({ event: 'fail', message: group.text, subject: group.subjects.join(', ') });
      const [first, ...others] = said;
      const cause = first!.error;
      throw new DistctlError('APPLY_FAILED', first!.text, {
        details: others.map((group) => `also failed: ${group.text}`),
        hint: `${cause instanceof IncusError ? `${cause.hint} ` : ''}What succeeded is kept; fix the cause and run \`distctl up\` again to resume.`,
        cause,
      });
    }
  }
  return { applied };
}

/** What a failure is about, without the object it happened to: incus' own words, or the message. */
function failureCause(error: unknown): string {
  if (error instanceof CommandFailedError) return `${error.code}\n${error.stderr.trim()}`;
  return messageOf(error);
}

/** `container db2`, or `containers auth-server, web-server, db1` when they are all containers. */
function listSubjects(subjects: readonly string[]): string {
  if (subjects.length === 1) return subjects[0]!;
  const containers = subjects.filter((subject) => subject.startsWith('container '));
  if (containers.length !== subjects.length) return subjects.join(', ');
  return `containers ${containers.map((subject) => subject.slice('container '.length)).join(', ')}`;
}

/** An action of a chain that failed, with why. */
class ChainFailure extends Error {
  constructor(
    readonly action: Action,
    readonly error: unknown,
  ) {
    super(messageOf(error));
  }
}

function chainFailure(reason: unknown): ChainFailure {
  if (reason instanceof ChainFailure) return reason;
  throw reason;
}

/**
 * Incus 6.0 lists every host interface while it creates a bridge, and refuses the create when one of them (a
 * container's veth) goes away meanwhile: "Failed to delete bridge children interfaces: … Device … does not
 * exist". On a host where other containers start and stop that is a race of the host, not a fault of the call,
 * so a bridge create refused that way is tried again, up to three times, a quarter second apart.
 */
export const HOST_INTERFACE_RACE = /Failed to delete bridge children interfaces/;

/** Runs one incus call; a bridge create refused by HOST_INTERFACE_RACE is tried again (see above). */
export async function runRetryingHostRace(
  client: IncusClient,
  call: IncusCall,
  pause: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<void> {
  const bridgeCreate = call.args[0] === 'network' && call.args[1] === 'create';
  for (let attempt = 0; ; attempt += 1) {
    try {
      await client.run(call);
      return;
    } catch (error) {
      const race = error instanceof CommandFailedError && HOST_INTERFACE_RACE.test(error.stderr);
      if (!bridgeCreate || !race || attempt >= 3) throw error;
      await pause(250);
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Polls (one `incus list` per round for all containers) until every container
 * reports exactly its declared IPv4 on eth0. `incus wait` is not on every
 * Incus, hence polling.
 */
export async function waitForAddresses(
  client: IncusClient,
  scope: IncusScope | string,
  containers: readonly { readonly name: string; readonly ipv4: string }[],
  options: {
    timeoutMs?: number;
    intervalMs?: number;
    onProgress?: Progress;
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
  } = {},
): Promise<{ seconds: number }> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  // A fine poll: each round is one `incus list` for all containers, and DHCP answers within about a second.
  const intervalMs = options.intervalMs ?? 200;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const started = now();
  const project = typeof scope === 'string' ? scope : scope.project;
  let seen = new Map<string, string>();
  for (;;) {
    const instances = await client.listInstances(scope);
    const byName = new Map(instances.map((instance) => [instance.name, instance]));
    seen = new Map(
      containers.map((container) => {
        const instance = byName.get(container.name);
        const addresses = instance ? instanceAddresses(instance) : [];
        return [
          container.name,
          instance === undefined
            ? 'missing'
            : `${instance.status}${addresses.length ? `, eth0 ${addresses.join(' ')}` : ', no IPv4 on eth0 yet'}`,
        ];
      }),
    );
    const waiting = containers.filter((container) => {
      const instance = byName.get(container.name);
      const addresses = instance ? instanceAddresses(instance) : [];
      return !(instance?.status === 'Running' && addresses.length === 1 && addresses[0] === container.ipv4);
    });
    if (waiting.length === 0) return { seconds: (now() - started) / 1000 };
    if (now() - started >= timeoutMs) {
      throw new DistctlError(
        'ADDRESS_TIMEOUT',
        `${waiting.map((container) => container.name).join(', ')} did not report the declared IPv4 address within ${Math.round(timeoutMs / 1000)} s`,
        {
          details: waiting.map(
            (container) => `${container.name}: want ${container.ipv4}, Incus reports ${seen.get(container.name)}`,
          ),
          hint:
            'eth0 is configured by the static file distctl writes (ifupdown images, such as those ' +
            '`distctl image build` makes) or else by DHCP from the reservation. ' +
            'Look inside with `incus exec NAME --project ' +
            project +
            ' -- ip addr`; the containers are kept, so `distctl up` resumes.',
        },
      );
    }
    options.onProgress?.({
      event: 'wait',
      message: `waiting for addresses: ${waiting.map((container) => `${container.name} (${seen.get(container.name)})`).join('; ')}`,
    });
    await sleep(intervalMs);
  }
}
