/**
 * `distctl drain MEMBER` and `distctl undrain MEMBER`: MongoDB-aware
 * maintenance of one Incus cluster member. Drain moves every replica set's
 * PRIMARY off the member (replSetStepDown, then waits for a writable PRIMARY
 * elsewhere) before Incus evacuates it; undrain restores the member and waits
 * until every mongod on it is a SECONDARY (or PRIMARY) again.
 */
import type { Ui } from './ui.js';
import type { DerivedReplicaSet, DesiredState, ReplicaSetMember } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { onRemote, type IncusClient } from '../incus/client.js';
import { OWNER_KEY } from '../incus/types.js';
import { exposureTo, refuseMajorityLoss } from '../failover/member-loss.js';
import { instanceMember } from '../observe/incus.js';
import type { Credentials, MongoAdmin, MongoTarget } from '../mongo/admin.js';
import { DriverMongoAdmin } from '../mongo/driver-admin.js';
import { poll } from '../mongo/poll.js';
import { writablePrimaryNow } from '../mongo/primary.js';
import { helloState, stepDown } from '../mongo/rolling.js';
import { existingAdminCredentials } from '../mongo/users.js';
import { SecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { loadDeployment, whileLocked } from './context.js';
import type { CommandResult } from './result.js';

/** Timings of drain and undrain, in milliseconds. */
export interface DrainTimings {
  /** How long a set may take to have a writable PRIMARY again after a step-down. */
  readonly stepDownTimeoutMs: number;
  /** How long undrain waits for the member's containers to run and its mongods to be SECONDARY or PRIMARY. */
  readonly rejoinTimeoutMs: number;
  readonly pollMs: number;
}

export const DEFAULT_DRAIN_TIMINGS: DrainTimings = {
  stepDownTimeoutMs: 60_000,
  // A restored container boots, then each mongod starts and catches up on what it missed while stopped.
  rejoinTimeoutMs: 300_000,
  pollMs: 1_000,
};

/** Options of `distctl drain` and `distctl undrain`. */
export interface DrainOptions {
  readonly file: string;
  /** The Incus cluster member. */
  readonly member: string;
  /** Drain even when a replica set would lose its majority (drain only). */
  readonly force: boolean;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly stateDirFor: (project: string) => string;
  readonly timings?: Partial<DrainTimings>;
  /** How MongoDB is reached; default the official driver (tests pass a fake). */
  readonly admin?: () => MongoAdmin;
}

/** A cluster member as `incus cluster list` reports it. */
export interface ClusterMember {
  readonly name: string;
  /** `Online`, `Evacuated`, `Offline`, … */
  readonly status: string;
}

/** One of the deployment's containers and where it runs. */
export interface PlacedContainer {
  readonly name: string;
  /** The cluster member it runs on (`location`). */
  readonly member: string;
  readonly status: string;
}

/** The cluster as drain sees it: every member's state, and where each of the deployment's containers runs. */
export interface ClusterView {
  readonly members: readonly ClusterMember[];
  readonly containers: readonly PlacedContainer[];
}

/** What drain did to one replica set with members on the drained cluster member. */
export interface SetDrain {
  readonly replicaSet: string;
  /** The PRIMARY before the drain (host), or null when the set had no writable PRIMARY. */
  readonly primaryBefore: string | null;
  /** Each step-down, in order (more than one when the next PRIMARY was on the same cluster member too). */
  readonly steppedDown: readonly { readonly from: string; readonly to: string }[];
  /** The PRIMARY once the set was done with (host); null without one, or without an admin user to step it down. */
  readonly primaryAfter: string | null;
}

const defaultAdmin = (): MongoAdmin => new DriverMongoAdmin();

/**
 * `distctl drain MEMBER`: refuses unless the topology's Incus remote is a
 * cluster with that member, and (without `force`) when a replica set would
 * lose its majority. Steps down every PRIMARY whose container runs on the
 * member, waiting each time for a writable PRIMARY elsewhere, then evacuates
 * the member with `--action stop`: its containers stop where they are (their
 * data stays on the member's local storage), instead of being migrated next
 * to another member of the same replica set. Draining an evacuated member
 * changes nothing and says so.
 */
export async function drainCommand(options: DrainOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const timings = { ...DEFAULT_DRAIN_TIMINGS, ...options.timings };
  const stateDir = options.stateDirFor(desired.project);
  const say = (message: string): void => options.ui.step({ event: 'start', message });
  return whileLocked(stateDir, 'drain', async () => {
    const before = await readCluster(options.client, desired);
    const member = requireMember(before, options.member);
    const hosted = before.containers.filter((container) => container.member === member.name);
    if (member.status === 'Evacuated') {
      return {
        exitCode: 0,
        human: `cluster member ${member.name} is already evacuated (drained): nothing to do`,
        json: { member: member.name, alreadyDrained: true, replicaSets: [], stopped: [] },
      };
    }
    const onMember = new Set(hosted.map((container) => container.name));
    const exposures = exposureTo(desired, onMember);
    refuseMajorityLoss(exposures, member.name, {
      what: `draining ${member.name}`,
      consequence: 'so it would stay unwritable until `distctl undrain`',
      force: options.force,
    });

    const credentials = await existingAdminCredentials(SecretStore.openReadOnly(secretsDir(stateDir)));
    const admin = (options.admin ?? defaultAdmin)();
    const sets: SetDrain[] = [];
    try {
      for (const { set } of exposures)
        sets.push(await movePrimaryOff(set, onMember, member.name, { admin, credentials, timings, say }));
    } finally {
      await admin.close();
    }

    say(`evacuating ${member.name} (incus cluster evacuate --action stop)`);
    await options.client.run({
      args: ['cluster', 'evacuate', onRemote(desired.remote, member.name), '--action', 'stop', '--force'],
    });
    const after = await readCluster(options.client, desired);
    const stopped = hosted
      .filter((container) => container.status === 'Running')
      .filter((container) => after.containers.find((now) => now.name === container.name)?.status !== 'Running')
      .map((container) => container.name);
    return {
      exitCode: 0,
      human: renderDrain(member.name, sets, stopped, options.ui),
      json: { member: member.name, alreadyDrained: false, replicaSets: sets, stopped },
    };
  });
}

/**
 * Steps the set's PRIMARY down while it runs on the drained member, until a
 * member elsewhere is the writable PRIMARY: a stepped-down member stays
 * ineligible for 60 s, so each round moves on to another member.
 */
async function movePrimaryOff(
  set: DerivedReplicaSet,
  onMember: ReadonlySet<string>,
  member: string,
  deps: {
    readonly admin: MongoAdmin;
    readonly credentials: Credentials | undefined;
    readonly timings: DrainTimings;
    readonly say: (message: string) => void;
  },
): Promise<SetDrain> {
  const wait = { intervalMs: deps.timings.pollMs, timeoutMs: deps.timings.stepDownTimeoutMs };
  const first = await writablePrimaryNow(set, deps.admin);
  if (first === undefined) {
    deps.say(`${set.name}: no member is the writable PRIMARY now; nothing to step down`);
    return { replicaSet: set.name, primaryBefore: null, steppedDown: [], primaryAfter: null };
  }
  const steppedDown: { from: string; to: string }[] = [];
  let primary: ReplicaSetMember = first;
  for (let round = 0; onMember.has(primary.container) && round < set.members.length; round++) {
    deps.say(`${set.name}: stepping down PRIMARY ${primary.host} (${primary.container} runs on ${member})`);
    const next = await stepDown(
      set,
      primary,
      { admin: deps.admin, credentials: deps.credentials, wait, onProgress: deps.say },
      {
        before: `the evacuation of cluster member ${member}`,
        leftAlone: `${member} was not evacuated`,
        hint: 'Check the members with `distctl status`, then run `distctl drain` again.',
      },
    );
    // No admin user yet: the set holds nothing of anyone's, and its PRIMARY simply goes with the member.
    if (next === undefined) return { replicaSet: set.name, primaryBefore: first.host, steppedDown, primaryAfter: null };
    steppedDown.push({ from: primary.host, to: next.host });
    primary = next;
  }
  if (onMember.has(primary.container)) {
    throw new DistctlError(
      'DRAIN_PRIMARY_NOT_MOVED',
      `replica set ${set.name}: its PRIMARY is still ${primary.host} in ${primary.container} on ${member} after ` +
        `${steppedDown.length} step-down(s); ${member} was not evacuated`,
      {
        hint:
          `A member of ${set.name} on another cluster member needs a priority above 0 to take over; ` +
          'check `distctl status` and topology.yaml.',
      },
    );
  }
  return {
    replicaSet: set.name,
    primaryBefore: first.host,
    steppedDown,
    primaryAfter: primary.host,
  };
}

/** One mongod on the restored member, as undrain last saw it. */
export interface MongodBack {
  readonly host: string;
  readonly container: string;
  /** PRIMARY or SECONDARY once back (standalone: `up`); otherwise what it last said, or why it did not answer. */
  readonly state: string;
  readonly back: boolean;
}

/**
 * `distctl undrain MEMBER`: `incus cluster restore` (which starts again the
 * instances the evacuation stopped), starts any of the deployment's
 * containers on the member that are still stopped, then waits, bounded, until
 * every one of them runs and every mongod they host says it is SECONDARY or
 * PRIMARY (a standalone: that it answers). Reports per replica set; exits 1
 * when something was not back in time. A member that is not evacuated is not
 * restored, only checked.
 */
export async function undrainCommand(options: DrainOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const timings = { ...DEFAULT_DRAIN_TIMINGS, ...options.timings };
  const stateDir = options.stateDirFor(desired.project);
  const say = (message: string): void => options.ui.step({ event: 'start', message });
  return whileLocked(stateDir, 'undrain', async () => {
    const before = await readCluster(options.client, desired);
    const member = requireMember(before, options.member);
    const restored = member.status === 'Evacuated';
    if (restored) {
      say(`restoring ${member.name} (incus cluster restore)`);
      await options.client.run({ args: ['cluster', 'restore', onRemote(desired.remote, member.name), '--force'] });
    } else {
      say(`${member.name} is not evacuated (${member.status}); checking its containers`);
    }
    const hosted = (await readCluster(options.client, desired)).containers.filter(
      (container) => container.member === member.name,
    );
    // Incus restarts only what was running when it evacuated; distctl declares every container running.
    const started = hosted.filter((container) => container.status !== 'Running').map((container) => container.name);
    if (started.length > 0) {
      say(`starting ${started.join(', ')}`);
      await options.client.run({
        args: ['start', ...started.map((name) => onRemote(desired.remote, name))],
        project: desired.project,
      });
    }

    const names = new Set(hosted.map((container) => container.name));
    const mongods = hostedMongods(desired, names);
    const admin = (options.admin ?? defaultAdmin)();
    let seen: MongodBack[] = [];
    let running: readonly PlacedContainer[] = [];
    try {
      const settled = await poll(
        async () => {
          running = (await readCluster(options.client, desired)).containers.filter((container) =>
            names.has(container.name),
          );
          seen = await Promise.all(mongods.map((mongod) => mongodState(admin, mongod)));
          const allRunning = running.every((container) => container.status === 'Running');
          return allRunning && seen.every((mongod) => mongod.back) ? true : undefined;
        },
        { intervalMs: timings.pollMs, timeoutMs: timings.rejoinTimeoutMs },
      );
      const problems = [
        ...running
          .filter((container) => container.status !== 'Running')
          .map((container) => `container ${container.name} is ${container.status}`),
        ...seen
          .filter((mongod) => !mongod.back)
          .map((mongod) => `${mongod.host} in ${mongod.container}: ${mongod.state}`),
      ];
      const replicaSets = desired.replicaSets
        .map((set) => ({
          replicaSet: set.name,
          members: seen.filter((mongod) => set.members.some((one) => one.host === mongod.host)),
        }))
        .filter((entry) => entry.members.length > 0);
      const ok = settled === true;
      return {
        exitCode: ok ? 0 : 1,
        human: renderUndrain(member.name, restored, started, replicaSets, seen, ok, timings, options.ui),
        json: { member: member.name, restored, started, replicaSets, mongods: seen, ok, problems },
      };
    } finally {
      await admin.close();
    }
  });
}

/** Every mongod in the named containers: replica-set members and standalones. */
function hostedMongods(
  desired: DesiredState,
  containers: ReadonlySet<string>,
): (MongoTarget & { readonly replicaSet: boolean })[] {
  return [
    ...desired.replicaSets.flatMap((set) => set.members.map((member) => ({ ...member, replicaSet: true }))),
    ...desired.standalones.map((standalone) => ({ ...standalone.process, replicaSet: false })),
  ].filter((mongod) => containers.has(mongod.container));
}

async function mongodState(
  admin: MongoAdmin,
  mongod: MongoTarget & { readonly replicaSet: boolean },
): Promise<MongodBack> {
  const base = { host: mongod.host, container: mongod.container };
  try {
    const hello = await admin.command(mongod, 'admin', { hello: 1 });
    if (!mongod.replicaSet) return { ...base, state: 'up', back: true };
    const state = helloState(hello);
    return { ...base, state, back: state === 'PRIMARY' || state === 'SECONDARY' };
  } catch (error) {
    return { ...base, state: `not answering (${error instanceof Error ? error.message : String(error)})`, back: false };
  }
}

/**
 * The cluster members and where the deployment's containers run. Refuses,
 * before anything changes, when the Incus server is not a cluster.
 */
export async function readCluster(client: IncusClient, desired: DesiredState): Promise<ClusterView> {
  // Members first: on a server that is not a cluster, that is the one thing to say.
  const listed = await client.listClusterMembers(desired.remote);
  if (listed === null) {
    throw new DistctlError(
      'CLUSTER_REQUIRED',
      `the Incus server of this topology (${desired.remote ?? 'local'}) is not a cluster; nothing was changed`,
      {
        hint:
          'drain, undrain and failover-test --kill-member work on an Incus cluster: point incus.remote in ' +
          'topology.yaml at one (docs/cluster.md).',
      },
    );
  }
  const instances = await client.listInstances({ project: desired.project, remote: desired.remote });
  const declared = new Set(desired.containers.map((container) => container.name));
  return {
    members: listed.map((entry) => ({ name: entry.server_name, status: entry.status })),
    containers: instances
      .filter((instance) => instance.config[OWNER_KEY] === desired.project && declared.has(instance.name))
      .map((instance) => ({ name: instance.name, member: instanceMember(instance) ?? '', status: instance.status })),
  };
}

/** The named member, or an error listing the members there are. */
export function requireMember(cluster: ClusterView, name: string): ClusterMember {
  const found = cluster.members.find((member) => member.name === name);
  if (found !== undefined) return found;
  throw new DistctlError('CLUSTER_MEMBER_UNKNOWN', `${name} is not a member of the cluster; nothing was changed`, {
    hint: `The cluster's members: ${cluster.members.map((member) => member.name).join(', ')}.`,
  });
}

function renderDrain(member: string, sets: readonly SetDrain[], stopped: readonly string[], ui: Ui): string {
  const lines = [ui.color.bold(`drained ${member}`)];
  for (const set of sets) {
    const line = (text: string): number => lines.push(`  ${set.replicaSet}: ${text}`);
    if (set.primaryBefore === null) line(ui.color.yellow('no writable PRIMARY'));
    else if (set.primaryAfter === null)
      line(`PRIMARY ${set.primaryBefore} not stepped down (no admin user, no data yet)`);
    else if (set.steppedDown.length === 0)
      line(`PRIMARY ${set.primaryBefore} is not on ${member}: nothing stepped down`);
    else
      line(`stepped down ${set.steppedDown.map((step) => step.from).join(', then ')}; PRIMARY now ${set.primaryAfter}`);
  }
  lines.push(
    `  stopped (incus cluster evacuate --action stop): ${stopped.length > 0 ? stopped.join(', ') : 'nothing'}`,
  );
  return lines.join('\n');
}

function renderUndrain(
  member: string,
  restored: boolean,
  started: readonly string[],
  replicaSets: readonly { readonly replicaSet: string; readonly members: readonly MongodBack[] }[],
  mongods: readonly MongodBack[],
  ok: boolean,
  timings: DrainTimings,
  ui: Ui,
): string {
  const state = (mongod: MongodBack): string =>
    `${mongod.host} ${mongod.back ? ui.color.green(mongod.state) : ui.color.red(mongod.state)}`;
  const standalones = mongods.filter((mongod) => !replicaSets.some((set) => set.members.includes(mongod)));
  return [
    ui.color.bold(`${restored ? 'restored' : 'checked'} ${member}`),
    ...(started.length > 0 ? [`  started ${started.join(', ')}`] : []),
    ...replicaSets.map((set) => `  ${set.replicaSet}: ${set.members.map(state).join(', ')}`),
    ...(standalones.length > 0 ? [`  standalone: ${standalones.map(state).join(', ')}`] : []),
    ok
      ? ui.color.green('  every container runs and every mongod is back')
      : ui.color.red(`  not everything was back within ${timings.rejoinTimeoutMs / 1000} s`),
  ].join('\n');
}
