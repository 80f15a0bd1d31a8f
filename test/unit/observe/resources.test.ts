import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../../../src/exec/runner.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';
import type { IncusInstance } from '../../../src/incus/types.js';
import { cpuRate, formatBytes, instanceResources, parseListeners, portServed } from '../../../src/observe/resources.js';
import { containerProbeArgv, probeContainer } from '../../../src/observe/units.js';

// Recorded on a live Incus 6.0.4 (btrfs pool): obs-r1 running with limits.memory=512MiB and a
// socket-activated unit listening on 0.0.0.0:3000, *:5000, 127.0.0.1:27017/27018; obs-r2 stopped;
// obs-r3 running without a memory limit.
const fixture = (name: string): string =>
  readFileSync(new URL(`../../fixtures/observe/${name}`, import.meta.url), 'utf8');
const instances = new Map(
  (JSON.parse(fixture('incus-list-state.json')) as IncusInstance[]).map((instance) => [instance.name, instance]),
);

describe('instanceResources (recorded `incus list --format json`)', () => {
  it('reads CPU, memory against its limit, processes; the root disk is unknown where the driver does not track it', () => {
    expect(instanceResources(instances.get('obs-r1'))).toEqual({
      cpuSeconds: 2.256661894,
      memoryBytes: 50266112,
      memoryLimitBytes: 536870912,
      diskBytes: null,
      processes: 6,
    });
  });

  it('a container without limits.memory has no limit, although Incus reports the host memory as its total', () => {
    expect(instanceResources(instances.get('obs-r3'))).toEqual({
      cpuSeconds: 1.778443903,
      memoryBytes: 48504832,
      memoryLimitBytes: null,
      diskBytes: null,
      processes: 9,
    });
  });

  it('a stopped or missing container has no figures (not zero usage)', () => {
    expect(instanceResources(instances.get('obs-r2'))).toBeNull();
    expect(instanceResources(undefined)).toBeNull();
  });

  it('reads the root disk where Incus reports it', () => {
    const base = instances.get('obs-r1')!;
    const withDisk: IncusInstance = { ...base, state: { ...base.state!, disk: { root: { usage: 123_456_789 } } } };
    expect(instanceResources(withDisk)?.diskBytes).toBe(123_456_789);
  });
});

describe('instanceResources: the edges', () => {
  const base = instances.get('obs-r1')!;
  it('a running container for which Incus gave no state (null or absent) has no figures, and nothing throws', () => {
    expect(instanceResources({ ...base, state: null })).toBeNull();
    expect(instanceResources({ ...base, state: undefined })).toBeNull();
  });

  it('a limit is reported only when Incus reports a positive memory total', () => {
    const state = base.state!;
    expect(instanceResources({ ...base, state: { ...state, memory: undefined } })?.memoryLimitBytes).toBeNull();
    expect(
      instanceResources({ ...base, state: { ...state, memory: { ...state.memory!, total: 0 } } })?.memoryLimitBytes,
    ).toBeNull();
  });
});

describe('cpuRate', () => {
  it('is the CPU seconds used per elapsed second; unknown without a previous reading or after a restart', () => {
    expect(cpuRate(2, 3.5, 3)).toBe(0.5);
    expect(cpuRate(null, 3.5, 3)).toBeNull();
    expect(cpuRate(5, 1, 3)).toBeNull();
    expect(cpuRate(1, 2, 0)).toBeNull();
  });

  it('an idle container (the counter did not move) uses 0, not unknown', () => {
    expect(cpuRate(2, 2, 3)).toBe(0);
  });
});

describe('formatBytes', () => {
  it('uses binary units with at most three significant figures', () => {
    expect(formatBytes(0)).toBe('0 B');
    // Whole numbers keep their zeros (100 MiB was shown as "1 MiB").
    expect(formatBytes(100)).toBe('100 B');
    expect(formatBytes(500)).toBe('500 B');
    expect(formatBytes(100 * 1024 ** 2)).toBe('100 MiB');
    expect(formatBytes(200 * 1024 ** 3)).toBe('200 GiB');
    expect(formatBytes(10 * 1024)).toBe('10 KiB');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(50266112)).toBe('47.9 MiB');
    expect(formatBytes(536870912)).toBe('512 MiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
  });

  it('changes unit at exactly 1024, stops at TiB, and rounds to 3 figures without dropping inner zeros', () => {
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(2 * 1024 ** 4)).toBe('2 TiB');
    expect(formatBytes(2048 * 1024 ** 4)).toBe('2048 TiB');
    expect(formatBytes(123.4 * 1024 ** 2)).toBe('123 MiB');
    expect(formatBytes(20.5 * 1024 ** 2)).toBe('20.5 MiB');
    expect(formatBytes(1.25 * 1024 ** 3)).toBe('1.25 GiB');
    expect(formatBytes(1.05 * 1024 ** 3)).toBe('1.05 GiB');
  });
});

describe('listeners (recorded `ss -Hltn`)', () => {
  const listeners = parseListeners(fixture('ss-Hltn.txt'));
  it('parses address and port of every listening socket', () => {
    expect(listeners).toEqual([
      { address: '127.0.0.1', port: 27017 },
      { address: '127.0.0.1', port: 27018 },
      { address: '0.0.0.0', port: 3000 },
      { address: '*', port: 5000 },
    ]);
    expect(parseListeners('LISTEN 0 128 [::]:22 [::]:*\nLISTEN 0 5 [fe80::1%eth0]:80 [::]:*\ngarbage\n')).toEqual([
      { address: '::', port: 22 },
      { address: 'fe80::1', port: 80 },
    ]);
  });

  it('reads an indented line, and skips a socket whose port is a service name (ss without -n)', () => {
    expect(parseListeners('  LISTEN 0 128 10.10.10.12:27017 0.0.0.0:*\nLISTEN 0 128 *:ssh *:*\n')).toEqual([
      { address: '10.10.10.12', port: 27017 },
    ]);
  });

  it('a port is served when bound to all addresses or to the container address; loopback alone is not', () => {
    expect(portServed(listeners, 3000, '10.10.10.11')).toBe(true);
    expect(portServed(listeners, 5000, '10.10.10.11')).toBe(true);
    expect(portServed(listeners, 27017, '10.10.10.12')).toBe(false);
    expect(portServed([{ address: '10.10.10.12', port: 27017 }], 27017, '10.10.10.12')).toBe(true);
    expect(portServed([{ address: '10.10.10.13', port: 27017 }], 27017, '10.10.10.12')).toBe(false);
    expect(portServed(listeners, 4000, '10.10.10.11')).toBe(false);
  });
});

/** Answers the one probe exec with a recorded output. */
function probeOps(result: Partial<CommandResult>): ContainerOps & { argvs: string[][] } {
  const argvs: string[][] = [];
  return {
    argvs,
    async exec(container, argv) {
      argvs.push([container, ...argv]);
      return { exitCode: 0, stdout: '', stderr: '', timedOut: false, ...result };
    },
    async writeFile() {
      throw new Error('status never writes');
    },
    async pushFile() {
      throw new Error('status never pushes');
    },
  };
}

describe('probeContainer (recorded output of the one exec per container)', () => {
  it('reads units and listeners in one exec, unit names as positional arguments', async () => {
    const ops = probeOps({ stdout: fixture('probe-output.txt') });
    const probe = await probeContainer(ops, 'web', ['web-server.service', 'nope.service']);
    expect(ops.argvs).toEqual([['web', ...containerProbeArgv(['web-server.service', 'nope.service'])]]);
    expect(containerProbeArgv(['a.service']).slice(0, 2)).toEqual(['sh', '-c']);
    expect(containerProbeArgv(['a.service']).slice(3)).toEqual(['distctl-status', 'a.service']);
    expect(probe.units).toEqual([
      {
        name: 'web-server.service',
        load: 'loaded',
        active: 'active',
        sub: 'running',
        mainPid: 76,
        since: 'Sat 2026-11-28 14:08:36 UTC',
      },
      { name: 'nope.service', load: 'not-found', active: 'inactive', sub: 'dead', mainPid: 0, since: null },
    ]);
    expect(probe.listeners).toEqual(parseListeners(fixture('ss-Hltn.txt')));
  });

  it('without ss the units are still read and the listeners are unknown', async () => {
    const units = fixture('probe-output.txt').split('--distctl-listeners--')[0];
    const probe = await probeContainer(
      probeOps({ exitCode: 127, stdout: `${units}--distctl-listeners--\n`, stderr: 'sh: 1: ss: not found\n' }),
      'web',
      ['web-server.service'],
    );
    expect(probe.units[0]?.active).toBe('active');
    expect(probe.listeners).toBeNull();
  });

  it('a failing exec reports every unit as unknown with the reason, never throws', async () => {
    const probe = await probeContainer(probeOps({ exitCode: 1, stderr: 'Error: Instance is not running\n' }), 'web', [
      'a.service',
    ]);
    expect(probe).toEqual({
      units: [
        {
          name: 'a.service',
          load: 'unknown',
          active: 'unknown',
          sub: 'systemctl failed: Error: Instance is not running',
          mainPid: 0,
          since: null,
        },
      ],
      listeners: null,
    });
  });
});
