import type { Ui } from './ui.js';
import type { DerivedReplicaSet, DesiredState } from '../derive/types.js';
import type { WriteTarget } from '../failover/workload.js';
import type { Credentials, MongoAdmin } from '../mongo/admin.js';
import { DistctlError } from '../errors/index.js';
import { onRemote, type IncusClient } from '../incus/client.js';
import { execChecked, IncusContainerOps } from '../incus/container-ops.js';
import {
  FAILOVER_MODES,
  runFailoverTest,
  runMemberLossTest,
  type FailoverKind,
  type FailoverMode,
  type FailoverReport,
  type FailoverTimings,
} from '../failover/index.js';
import { exposureTo, refuseMajorityLoss } from '../failover/member-loss.js';
import { MongoWriteTarget } from '../failover/mongo-target.js';
import { DriverMongoAdmin } from '../mongo/driver-admin.js';
import { existingAdminCredentials } from '../mongo/users.js';
import { openSecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { loadDeployment, whileLocked } from './context.js';
import { readCluster, requireMember } from './drain.js';
import type { CommandResult } from './result.js';

/** Options of `distctl failover-test`, merged by the CLI. */
export interface FailoverTestOptions {
  readonly file: string;
  /** Replica sets to test, by name; default every set, one after another. */
  readonly sets: readonly string[];
  /** Modes to run per set, in this order (each reported on its own). */
  readonly modes: readonly FailoverMode[];
  readonly timings: Partial<FailoverTimings>;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly stateDirFor: (project: string) => string;
  /** How MongoDB is reached; default the official driver (tests pass fakes). */
  readonly mongo?: MongoConnector;
  /** `--kill-member NAME`: instead of taking PRIMARYs away, stop every container on this Incus cluster member. */
  readonly killMember?: string;
  /** With killMember: go ahead even when a replica set would lose its majority. */
  readonly force?: boolean;
  /** `--mode` was given on the command line (it does not apply to killMember). */
  readonly modeGiven?: boolean;
}

/** Opens the admin channel and the workload's write target. */
export interface MongoConnector {
  admin(): MongoAdmin;
  target(set: DerivedReplicaSet, credentials: Credentials): WriteTarget;
}

const driverConnector: MongoConnector = {
  admin: () => new DriverMongoAdmin(),
  target: (set, credentials) => new MongoWriteTarget(set.url, credentials),
};

/**
 * `distctl failover-test`: for each replica set and each mode, take its
 * PRIMARY away under a write workload (stepdown: `systemctl stop`; crash:
 * SIGKILL), report the election time and every write's fate, check
 * replication, and bring the member back. Exit 0 only when every run elected
 * a new primary, lost no acknowledged write and got its member back.
 */
export async function failoverTestCommand(options: FailoverTestOptions): Promise<CommandResult> {
  if (options.killMember !== undefined && (options.sets.length > 0 || options.modeGiven === true)) {
    throw new DistctlError('USAGE', '--kill-member takes no --set or --mode', {
      hint: 'The loss of a cluster member hits every set with members on it, all its containers at once.',
    });
  }
  const { desired } = await loadDeployment(options.file);
  const sets = options.killMember === undefined ? chooseSets(desired.replicaSets, options.sets) : [];
  const stateDir = options.stateDirFor(desired.project);
  return whileLocked(stateDir, 'failover-test', async () => {
    const secrets = await openSecretStore(secretsDir(stateDir));
    const credentials = await existingAdminCredentials(secrets);
    if (credentials === undefined) {
      throw new DistctlError(
        'FAILOVER_NO_CREDENTIALS',
        `deployment ${desired.project} has no MongoDB admin credentials on this host`,
        {
          hint: 'Run `distctl up` first: it creates the replica sets and their admin user.',
        },
      );
    }
    const mongo = options.mongo ?? driverConnector;
    if (options.killMember !== undefined)
      return killMemberTest(desired, options.killMember, credentials, mongo, options);
    const ops = new IncusContainerOps(options.client, desired);
    const admin = mongo.admin();
    const reports: FailoverReport[] = [];
    try {
      for (const set of sets) {
        for (const mode of options.modes) {
          const target = mongo.target(set, credentials);
          try {
            reports.push(
              await runFailoverTest(set, {
                admin,
                credentials,
                target,
                mode,
                stopMember: async (member, how) =>
                  void (await execChecked(
                    ops,
                    member.container,
                    stopCommand(member.unitName, how),
                    `Stopping ${member.unitName}`,
                  )),
                startMember: async (member) =>
                  void (await execChecked(
                    ops,
                    member.container,
                    ['systemctl', 'start', member.unitName],
                    `Starting ${member.unitName}`,
                  )),
                onProgress: (message) => options.ui.step({ event: 'start', message }),
                timings: options.timings,
              }),
            );
          } finally {
            await target.close();
          }
        }
      }
    } finally {
      await admin.close();
    }
    const failed = reports.filter((report) => report.problems.length > 0);
    return {
      exitCode: failed.length === 0 ? 0 : 1,
      human: renderReports(reports, options.ui),
      json: { ok: failed.length === 0, replicaSets: reports },
    };
  });
}

/**
 * `failover-test --kill-member NAME`: the loss of one Incus cluster member,
 * simulated by stopping (force) every one of the deployment's containers on
 * it at once, under the write workload of every replica set with members
 * there. Refuses a member that runs none of them, and (without --force) one
 * whose loss takes a set's majority: that set could elect nobody, so the test
 * would show nothing but its writes failing until the member is back. The
 * containers are started again afterwards, always.
 */
async function killMemberTest(
  desired: DesiredState,
  memberName: string,
  credentials: Credentials,
  mongo: MongoConnector,
  options: FailoverTestOptions,
): Promise<CommandResult> {
  const cluster = await readCluster(options.client, desired);
  const member = requireMember(cluster, memberName);
  const containers = cluster.containers
    .filter((container) => container.member === member.name && container.status === 'Running')
    .map((container) => container.name);
  if (containers.length === 0) {
    const where = cluster.containers.map((container) => `${container.name} on ${container.member || '?'}`);
    throw new DistctlError(
      'FAILOVER_MEMBER_EMPTY',
      `cluster member ${member.name} runs none of deployment ${desired.project}'s containers: killing it would test ` +
        'nothing; nothing was changed',
      { hint: `The deployment's containers: ${where.join(', ') || 'none'}.` },
    );
  }
  const exposures = exposureTo(desired, new Set(containers));
  refuseMajorityLoss(exposures, member.name, {
    what: `killing ${member.name}`,
    consequence: 'so the test would show nothing but its writes failing until the member is back',
    force: options.force === true,
  });
  const qualified = containers.map((name) => onRemote(desired.remote, name));
  const admin = mongo.admin();
  const sets = exposures.map(({ set, lost }) => ({ set, lost, target: mongo.target(set, credentials) }));
  let reports: FailoverReport[];
  try {
    reports = await runMemberLossTest({
      admin,
      credentials,
      member: member.name,
      containers,
      sets,
      stopContainers: async () =>
        void (await options.client.run({ args: ['stop', ...qualified, '--force'], project: desired.project })),
      // Only those stopped now: after a failed stop, some may still run, and `incus start` refuses a running one.
      startContainers: async () => {
        const stopped = (await readCluster(options.client, desired)).containers
          .filter((container) => containers.includes(container.name) && container.status !== 'Running')
          .map((container) => onRemote(desired.remote, container.name));
        if (stopped.length > 0) await options.client.run({ args: ['start', ...stopped], project: desired.project });
      },
      onProgress: (message) => options.ui.step({ event: 'start', message }),
      timings: options.timings,
    });
  } finally {
    await Promise.all(sets.map(({ target }) => target.close()));
    await admin.close();
  }
  const failed = reports.filter((report) => report.problems.length > 0);
  const header =
    `cluster member ${member.name}: stopped ${containers.join(', ')} (incus stop --force) and started them again` +
    (reports.length === 0 ? '; no replica set has members there' : '');
  return {
    exitCode: failed.length === 0 ? 0 : 1,
    human: [options.ui.color.bold(header), ...(reports.length > 0 ? [renderReports(reports, options.ui)] : [])].join(
      '\n\n',
    ),
    json: { ok: failed.length === 0, member: member.name, containers, replicaSets: reports },
  };
}

function chooseSets(all: readonly DerivedReplicaSet[], names: readonly string[]): DerivedReplicaSet[] {
  if (all.length === 0)
    throw new DistctlError('FAILOVER_NO_REPLICA_SET', 'the topology has no replica set to test', {
      hint: 'Declare replica sets under mongodb.replicaSets.',
    });
  if (names.length === 0) return [...all];
  const unknown = names.filter((name) => !all.some((set) => set.name === name));
  if (unknown.length > 0) {
    throw new DistctlError(
      'FAILOVER_UNKNOWN_SET',
      `unknown replica set${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`,
      { hint: `The topology defines: ${all.map((set) => set.name).join(', ')}.` },
    );
  }
  return all.filter((set) => names.includes(set.name));
}

/** The runs `--mode` asks for, in order: `both` is stepdown, then crash. */
export function failoverModes(option: FailoverMode | 'both'): FailoverMode[] {
  return option === 'both' ? [...FAILOVER_MODES] : [option];
}

/**
 * The command that takes a member away. Stepdown: `systemctl stop` sends
 * SIGTERM and returns once mongod has exited, after its shutdown quiesce.
 * Crash: SIGKILL through systemd, returning at once; the unit's
 * `Restart=on-failure` starts mongod again.
 */
export function stopCommand(unitName: string, mode: FailoverMode): string[] {
  return mode === 'crash' ? ['systemctl', 'kill', '--signal=SIGKILL', unitName] : ['systemctl', 'stop', unitName];
}

const TITLES: Record<FailoverKind, string> = {
  stepdown: 'stepdown (systemctl stop)',
  crash: 'crash (SIGKILL)',
  'member-loss': 'cluster member loss (incus stop --force)',
};

/**
 * One block per set and mode: election (the server's date, and when it was
 * seen), the stop, write fates and latency, replication per member, restart,
 * end state, verdict.
 */
export function renderReports(reports: readonly FailoverReport[], ui: Ui): string {
  const { color } = ui;
  const seqList = (seqs: readonly number[] | null, good: (text: string) => string): string => {
    if (seqs === null) return color.red('unknown (the set could not be read back)');
    return seqs.length === 0 ? good('none') : color.red(seqs.join(', '));
  };
  const time = (ms: number): string => (ms < 1_000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`);
  const secs = (value: number | null): string => (value === null ? '?' : value.toFixed(1));
  return reports.map((report) => renderReport(report)).join('\n\n');

  function renderReport(report: FailoverReport): string {
    const { writes, restart, replication } = report;
    const errors = Object.entries(writes.errors).map(([message, count]) => `      ${count}× ${message}`);
    const reason = report.electionReason === null ? '' : ` (${report.electionReason})`;
    const election =
      report.stoppedMember === null
        ? `not needed: PRIMARY ${report.primaryBefore} was not stopped`
        : report.newPrimary === null
          ? color.red('none')
          : `${report.newPrimary}, elected ${secs(report.electionSeconds)} s after the stop${reason}, ` +
            `seen after ${secs(report.electionSeenSeconds)} s`;
    const has = (readable: boolean | null): string =>
      readable === null ? 'not asked' : readable ? color.green('has it') : color.red('lacks it');
    const replicated =
      replication === null
        ? 'not checked (no write acknowledged)'
        : `write ${replication.seq}: ` +
          replication.members.map((member) => `${member.host} ${member.state} ${has(member.readable)}`).join('; ');
    const latency =
      writes.latency === null
        ? 'no writes'
        : `p50 ${time(writes.latency.p50Ms)}, p95 ${time(writes.latency.p95Ms)}, ` +
          `p99 ${time(writes.latency.p99Ms)}, max ${time(writes.latency.maxMs)}`;
    const back =
      restart.rejoinedAs === null
        ? color.red('no')
        : color.green(`yes, ${restart.rejoinedAs} ${secs(restart.afterSeconds)} s after`);
    const how =
      restart.by === 'systemd'
        ? 'restarted by systemd, Restart=on-failure'
        : report.mode === 'member-loss'
          ? 'containers started by distctl'
          : 'started by distctl';
    const backAfter =
      report.primaryBackSeconds === null ? '' : ` (back ${secs(report.primaryBackSeconds)} s after the stop)`;
    const title = TITLES[report.mode];
    const alsoStopped = report.stoppedMembers.filter((host) => host !== report.stoppedMember);
    const stoppedLine =
      report.stoppedMember === null
        ? `  stopped           ${alsoStopped.join(', ')} (not the PRIMARY)`
        : `  stopped PRIMARY   ${report.stoppedMember}${alsoStopped.length > 0 ? ` and ${alsoStopped.join(', ')}` : ''}`;
    const stopped = report.stopReturnedSeconds === null ? 'no' : `after ${secs(report.stopReturnedSeconds)} s`;
    const verdict =
      report.problems.length === 0
        ? color.green('  PASSED')
        : [color.red('  FAILED:'), ...report.problems.map((problem) => `    - ${problem}`)].join('\n');
    return [
      color.bold(`replica set ${report.replicaSet} — ${title}`),
      stoppedLine,
      `  new PRIMARY       ${election}`,
      `  stop returned     ${stopped}`,
      `  writes            ${writes.total} sent, ${writes.acknowledged} acknowledged, ${writes.failed} failed`,
      `  write latency     ${latency}`,
      `  acknowledged but lost: ${seqList(writes.acknowledgedButLost, color.green)}`,
      `  failed but applied:    ${seqList(writes.failedButApplied, (text) => text)}`,
      ...(errors.length > 0 ? ['  errors seen:', ...errors] : []),
      `  replicated        ${replicated}`,
      `  ${report.stoppedMembers.join(', ')} back: ${back} (${how})`,
      `  PRIMARY at end    ${report.primaryAtEnd ?? color.red('none')}${backAfter}`,
      verdict,
    ].join('\n');
  }
}
