import type { Ui } from '../cli/ui.js';
import type { DerivedReplicaSet } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { execChecked, IncusContainerOps } from '../incus/container-ops.js';
import { FAILOVER_MODES, runFailoverTest, type FailoverMode, type FailoverReport, type FailoverTimings } from '../failover/index.js';
import { MongoWriteTarget } from '../failover/mongo-target.js';
import { DriverMongoAdmin } from '../mongo/driver-admin.js';
import { existingAdminCredentials } from '../mongo/users.js';
import { openSecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { loadDeployment, whileLocked } from './context.js';
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
}

/**
 * `distctl failover-test`: for each replica set and each mode, take its
 * PRIMARY away under a write workload (stepdown: `systemctl stop`; crash:
 * SIGKILL), report the election time and every write's fate, check
 * replication, and bring the member back. Exit 0 only when every run elected
 * a new primary, lost no acknowledged write and got its member back.
 */
export async function failoverTestCommand(options: FailoverTestOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const sets = chooseSets(desired.replicaSets, options.sets);
  const stateDir = options.stateDirFor(desired.project);
  return whileLocked(stateDir, 'failover-test', async () => {
    const secrets = await openSecretStore(secretsDir(stateDir));
    const credentials = await existingAdminCredentials(secrets);
    if (credentials === undefined) {
      throw new DistctlError('FAILOVER_NO_CREDENTIALS', `deployment ${desired.project} has no MongoDB admin credentials on this host`, {
        hint: 'Run `distctl up` first: it creates the replica sets and their admin user.',
      });
    }
    const ops = new IncusContainerOps(options.client, desired.project);
    const admin = new DriverMongoAdmin();
    const reports: FailoverReport[] = [];
    try {
      for (const set of sets) {
        for (const mode of options.modes) {
          const target = new MongoWriteTarget(set.url, credentials);
          try {
            reports.push(
              await runFailoverTest(set, {
                admin,
                credentials,
                target,
                mode,
                stopMember: async (member, how) => void (await execChecked(ops, member.container, stopCommand(member.unitName, how), `Stopping ${member.unitName}`)),
                startMember: async (member) => void (await execChecked(ops, member.container, ['systemctl', 'start', member.unitName], `Starting ${member.unitName}`)),
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
    return { exitCode: failed.length === 0 ? 0 : 1, human: renderReports(reports, options.ui), json: { ok: failed.length === 0, replicaSets: reports } };
  });
}

function chooseSets(all: readonly DerivedReplicaSet[], names: readonly string[]): DerivedReplicaSet[] {
  if (all.length === 0) throw new DistctlError('FAILOVER_NO_REPLICA_SET', 'the topology has no replica set to test', { hint: 'Declare replica sets under mongodb.replicaSets.' });
  if (names.length === 0) return [...all];
  const unknown = names.filter((name) => !all.some((set) => set.name === name));
  if (unknown.length > 0) {
    throw new DistctlError('FAILOVER_UNKNOWN_SET', `unknown replica set${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}`, { hint: `The topology defines: ${all.map((set) => set.name).join(', ')}.` });
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

/** One block per set and mode: election (server's date, and when seen), the stop, write fates and latency, replication, restart, verdict. */
export function renderReports(reports: readonly FailoverReport[], ui: Ui): string {
  const { color } = ui;
  const list = (seqs: readonly number[] | null, good: (text: string) => string) =>
    seqs === null ? color.red('unknown (the set could not be read back)') : seqs.length === 0 ? good('none') : color.red(seqs.join(', '));
  const ms = (value: number) => (value < 1_000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`);
  return reports
    .map((report) => {
      const { writes, restart, replication } = report;
      const errors = Object.entries(writes.errors).map(([message, count]) => `      ${count}× ${message}`);
      const election =
        report.newPrimary === null
          ? color.red('none')
          : `${report.newPrimary}, elected ${report.electionSeconds === null ? '?' : report.electionSeconds.toFixed(1)} s after the stop` +
            `${report.electionReason === null ? '' : ` (${report.electionReason})`}, seen after ${report.electionSeenSeconds?.toFixed(1) ?? '?'} s`;
      const replicated =
        replication === null
          ? 'not checked (no write acknowledged)'
          : `write ${replication.seq}: ${replication.members
              .map((member) => `${member.host} ${member.state} ${member.readable === null ? 'not asked' : member.readable ? color.green('has it') : color.red('lacks it')}`)
              .join('; ')}`;
      const back = restart.rejoinedAs === null ? color.red('no') : color.green(`yes, ${restart.rejoinedAs} ${restart.afterSeconds?.toFixed(1) ?? '?'} s after`);
      return [
        color.bold(`replica set ${report.replicaSet} — ${report.mode === 'crash' ? 'crash (SIGKILL)' : 'stepdown (systemctl stop)'}`),
        `  stopped PRIMARY   ${report.stoppedMember}`,
        `  new PRIMARY       ${election}`,
        `  stop returned     ${report.stopReturnedSeconds === null ? 'no' : `after ${report.stopReturnedSeconds.toFixed(1)} s`}`,
        `  writes            ${writes.total} sent, ${writes.acknowledged} acknowledged, ${writes.failed} failed`,
        `  write latency     ${writes.latency === null ? 'no writes' : `p50 ${ms(writes.latency.p50Ms)}, p95 ${ms(writes.latency.p95Ms)}, p99 ${ms(writes.latency.p99Ms)}, max ${ms(writes.latency.maxMs)}`}`,
        `  acknowledged but lost: ${list(writes.acknowledgedButLost, color.green)}`,
        `  failed but applied:    ${list(writes.failedButApplied, (text) => text)}`,
        ...(errors.length > 0 ? ['  errors seen:', ...errors] : []),
        `  replicated        ${replicated}`,
        `  ${report.stoppedMember} back: ${back} (${restart.by === 'systemd' ? 'restarted by systemd, Restart=on-failure' : 'started by distctl'})`,
        `  PRIMARY at end    ${report.primaryAtEnd ?? color.red('none')}${report.primaryBackSeconds === null ? '' : ` (back ${report.primaryBackSeconds.toFixed(1)} s after the stop)`}`,
        report.problems.length === 0 ? color.green('  PASSED') : [color.red('  FAILED:'), ...report.problems.map((problem) => `    - ${problem}`)].join('\n'),
      ].join('\n');
    })
    .join('\n\n');
}
