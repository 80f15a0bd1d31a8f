import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { loadDeployment } from '../../../src/commands/context.js';
import { failoverModes, failoverTestCommand, renderReports, stopCommand } from '../../../src/commands/failover-test.js';
import type { FailoverReport } from '../../../src/failover/index.js';
import { WORKLOAD_SERVER_SELECTION_TIMEOUT_MS } from '../../../src/failover/mongo-target.js';
import { IncusClient } from '../../../src/incus/client.js';
import { openSecretStore } from '../../../src/secrets/store.js';
import { secretsDir } from '../../../src/state/paths.js';
import { ScriptedRunner } from '../support/scripted-runner.js';
import { TimedReplicaSet, TimedWriteTarget } from './timed-set.js';

const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });

const crash: FailoverReport = {
  replicaSet: 'rsA',
  mode: 'crash',
  primaryBefore: '10.10.10.12:27017',
  stoppedMember: '10.10.10.12:27017',
  stoppedMembers: ['10.10.10.12:27017'],
  newPrimary: '10.10.10.12:27018',
  electionSeconds: 10.412,
  electionReason: 'electionTimeout',
  electionSeenSeconds: 10.5,
  stopReturnedSeconds: 0.031,
  writes: {
    total: 62,
    acknowledged: 57,
    failed: 5,
    acknowledgedButLost: [],
    failedButApplied: [],
    latency: { p50Ms: 5, p95Ms: 2_000, p99Ms: 2_000, maxMs: 2_013 },
    errors: { 'Server selection timed out after 2000 ms': 5 },
  },
  replication: {
    seq: 62,
    members: [
      { host: '10.10.10.12:27017', state: 'SECONDARY', readable: true },
      { host: '10.10.10.12:27018', state: 'PRIMARY', readable: null },
      { host: '10.10.10.12:27019', state: 'SECONDARY', readable: true },
    ],
  },
  restart: { by: 'systemd', rejoinedAs: 'SECONDARY', afterSeconds: 5.2 },
  primaryAtEnd: '10.10.10.12:27017',
  primaryBackSeconds: 21.3,
  problems: [],
};

describe('failover-test command', () => {
  it('runs stepdown, then crash, for --mode both (the default), and one mode when asked', () => {
    expect(failoverModes('both')).toEqual(['stepdown', 'crash']);
    expect(failoverModes('crash')).toEqual(['crash']);
  });

  it('stops with systemctl stop (SIGTERM) in stepdown mode and SIGKILLs through systemd in crash mode', () => {
    expect(stopCommand('mongod-27017.service', 'stepdown')).toEqual(['systemctl', 'stop', 'mongod-27017.service']);
    expect(stopCommand('mongod-27017.service', 'crash')).toEqual([
      'systemctl',
      'kill',
      '--signal=SIGKILL',
      'mongod-27017.service',
    ]);
  });

  it('reports each mode on its own: election, stop, latency, replication per member, restart, end state', () => {
    expect(renderReports([crash], ui).split('\n')).toEqual([
      'replica set rsA — crash (SIGKILL)',
      '  stopped PRIMARY   10.10.10.12:27017',
      '  new PRIMARY       10.10.10.12:27018, elected 10.4 s after the stop (electionTimeout), seen after 10.5 s',
      '  stop returned     after 0.0 s',
      '  writes            62 sent, 57 acknowledged, 5 failed',
      '  write latency     p50 5 ms, p95 2.0 s, p99 2.0 s, max 2.0 s',
      '  acknowledged but lost: none',
      '  failed but applied:    none',
      '  errors seen:',
      '      5× Server selection timed out after 2000 ms',
      '  replicated        write 62: 10.10.10.12:27017 SECONDARY has it; 10.10.10.12:27018 PRIMARY not asked; ' +
        '10.10.10.12:27019 SECONDARY has it',
      '  10.10.10.12:27017 back: yes, SECONDARY 5.2 s after (restarted by systemd, Restart=on-failure)',
      '  PRIMARY at end    10.10.10.12:27017 (back 21.3 s after the stop)',
      '  PASSED',
    ]);
  });

  it('says when the writes could not be read back', () => {
    const unread = {
      ...crash,
      writes: { ...crash.writes, acknowledgedButLost: null, failedButApplied: null },
      problems: ['could not read back'],
    };
    const lines = renderReports([unread], ui).split('\n');
    expect(lines).toContain('  acknowledged but lost: unknown (the set could not be read back)');
    expect(lines.slice(-2)).toEqual(['  FAILED:', '    - could not read back']);
  });
});

describe('failover-test in process', () => {
  it('runs stepdown, then crash, through systemctl in the container, and reports each run', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'distctl-failover-'));
    // Only setTimeout and Date are faked: the lock and the secret store do real file I/O.
    vi.useFakeTimers({ now: Date.parse('2026-11-28T12:00:00.000Z'), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const password = await (await openSecretStore(secretsDir(stateDir))).get('mongodb-admin-password');
      const { desired } = await loadDeployment('topology.yaml');
      const rsA = desired.replicaSets.find((candidate) => candidate.name === 'rsA')!;
      const fake = new TimedReplicaSet(rsA, { username: 'distctl-admin', password });
      const targets: TimedWriteTarget[] = [];
      const runner = new ScriptedRunner(async (cmd) => {
        const [, project, exec, container, dashdash, systemctl, action, ...rest] = cmd.args;
        const unit = rest.at(-1);
        const member = rsA.members.find((candidate) => candidate.unitName === unit);
        const ok = project === 'distctl' && exec === 'exec' && container === 'db1' && dashdash === '--';
        if (!ok || systemctl !== 'systemctl' || member === undefined) return undefined;
        if (action === 'stop') await fake.sigterm(member.host);
        else if (action === 'kill' && rest[0] === '--signal=SIGKILL') fake.sigkill(member.host);
        else if (action === 'start') fake.start(member.host);
        else return undefined;
        return { exitCode: 0 };
      });
      const running = failoverTestCommand({
        file: 'topology.yaml',
        sets: ['rsA'],
        modes: failoverModes('both'),
        timings: {},
        client: new IncusClient(runner),
        ui,
        stateDirFor: () => stateDir,
        mongo: {
          admin: () => fake,
          target: () => {
            targets.push(new TimedWriteTarget(fake, WORKLOAD_SERVER_SELECTION_TIMEOUT_MS));
            return targets.at(-1)!;
          },
        },
      });
      let outcome: { value: Awaited<typeof running> } | { error: unknown } | undefined;
      running.then(
        (value) => (outcome = { value }),
        (error: unknown) => (outcome = { error }),
      );
      while (outcome === undefined) {
        await new Promise((resolve) => setImmediate(resolve));
        if (vi.getTimerCount() > 0) await vi.advanceTimersToNextTimerAsync();
      }
      if ('error' in outcome) throw outcome.error;
      const { exitCode, json } = outcome.value;
      expect(exitCode).toBe(0);
      const runs = (json as { replicaSets: FailoverReport[] }).replicaSets;
      expect(runs.map((run) => [run.mode, run.electionSeconds, run.electionReason, run.restart.by])).toEqual([
        ['stepdown', 0.2, 'stepUpRequestSkipDryRun', 'distctl'],
        ['crash', 10, 'electionTimeout', 'systemd'],
      ]);
      expect(runner.lines().map((line) => line.replace('incus --project distctl exec db1 -- ', ''))).toEqual([
        'systemctl stop mongod-27017.service',
        'systemctl start mongod-27017.service',
        'systemctl kill --signal=SIGKILL mongod-27017.service',
      ]);
      expect(targets.map((target) => target.closed)).toEqual([true, true]);
    } finally {
      vi.useRealTimers();
      await rm(stateDir, { recursive: true, force: true });
    }
  });
});
