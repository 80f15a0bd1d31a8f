import type { Ui } from './ui.js';
import type { DerivedReplicaSet } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { execChecked, IncusContainerOps } from '../incus/container-ops.js';
import { runFailoverTest, type FailoverReport, type FailoverTimings } from '../failover/index.js';
import { MongoWriteTarget } from '../failover/mongo-target.js';
import { DriverMongoAdmin } from '../mongo/driver-admin.js';
import { existingAdminCredentials, withCredentials } from '../mongo/users.js';
import { openSecretStore } from '../secrets/store.js';
import { secretsDir } from '../state/paths.js';
import { loadDeployment, whileLocked } from './context.js';
import type { CommandResult } from './result.js';

/** Options of `distctl failover-test`, merged by the CLI. */
export interface FailoverTestOptions {
  readonly file: string;
  /** Replica sets to test, by name; default every set, one after another. */
  readonly sets: readonly string[];
  readonly timings: Partial<FailoverTimings>;
  readonly client: IncusClient;
  readonly ui: Ui;
  readonly stateDirFor: (project: string) => string;
}

/**
 * `distctl failover-test`: for each replica set, stop its PRIMARY's unit
 * under a write workload, report the election time and every write's fate,
 * check replication, and bring the member back. Exit 0 only when every set
 * elected a new primary, lost no acknowledged write and got its member back.
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
        const target = new MongoWriteTarget(withCredentials(set.url, credentials));
        try {
          reports.push(
            await runFailoverTest(set, {
              admin,
              credentials,
              target,
              stopMember: async (member) => void (await execChecked(ops, member.container, ['systemctl', 'stop', member.unitName], `Stopping ${member.unitName}`)),
              startMember: async (member) => void (await execChecked(ops, member.container, ['systemctl', 'start', member.unitName], `Starting ${member.unitName}`)),
              onProgress: (message) => options.ui.step({ event: 'start', message }),
              timings: options.timings,
            }),
          );
        } finally {
          await target.close();
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

/** One block per set: election time, write fates, replication, rejoin, verdict. */
export function renderReports(reports: readonly FailoverReport[], ui: Ui): string {
  const { color } = ui;
  return reports
    .map((report) => {
      const { writes } = report;
      const errors = Object.entries(writes.errors).map(([message, count]) => `      ${count}× ${message}`);
      return [
        color.bold(`replica set ${report.replicaSet}`),
        `  stopped PRIMARY   ${report.stoppedMember}`,
        `  new PRIMARY       ${report.newPrimary ?? color.red('none')}${report.electionSeconds === null ? '' : ` after ${report.electionSeconds.toFixed(1)} s`}`,
        `  writes            ${writes.total} sent, ${writes.acknowledged} acknowledged, ${writes.failed} failed (max latency ${(writes.maxLatencyMs / 1000).toFixed(1)} s)`,
        `  acknowledged but lost: ${writes.acknowledgedButLost.length === 0 ? color.green('none') : color.red(writes.acknowledgedButLost.join(', '))}`,
        `  failed but applied:    ${writes.failedButApplied.length === 0 ? 'none' : writes.failedButApplied.join(', ')}`,
        ...(errors.length > 0 ? ['  errors seen:', ...errors] : []),
        `  replicated to a secondary: ${report.replicatedToSecondary === null ? 'not checked' : report.replicatedToSecondary ? color.green('yes') : color.red('no')}`,
        `  ${report.stoppedMember} rejoined: ${report.rejoinedAs ? color.green(`yes, as ${report.rejoinedAs}`) : color.red('no')}`,
        report.problems.length === 0 ? color.green('  PASSED') : [color.red('  FAILED:'), ...report.problems.map((problem) => `    - ${problem}`)].join('\n'),
      ].join('\n');
    })
    .join('\n\n');
}
