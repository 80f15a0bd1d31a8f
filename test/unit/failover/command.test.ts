import { describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { failoverModes, renderReports, stopCommand } from '../../../src/commands/failover-test.js';
import type { FailoverReport } from '../../../src/failover/index.js';

const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });

const crash: FailoverReport = {
  replicaSet: 'rsA',
  mode: 'crash',
  stoppedMember: '10.10.10.12:27017',
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
