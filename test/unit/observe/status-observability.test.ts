import { describe, expect, it } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { cpuRates, renderStatus, statusJson } from '../../../src/commands/status.js';
import { differencesOf, type ContainerStatus, type DeploymentStatus } from '../../../src/observe/deployment.js';
import { deploymentMetrics } from '../../../src/observe/prometheus.js';

const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
const active = (name: string) => ({ name, load: 'loaded', active: 'active', sub: 'running', mainPid: 10, since: null });

function container(overrides: Partial<ContainerStatus> & { name: string }): ContainerStatus {
  return {
    state: 'Running',
    owned: true,
    declaredIp: '10.10.10.12',
    actualIps: ['10.10.10.12'],
    units: [active('mongod-27017.service')],
    proxies: [],
    resources: { cpuSeconds: 12.5, memoryBytes: 50266112, memoryLimitBytes: 536870912, diskBytes: null, processes: 6 },
    ports: [{ unit: 'mongod-27017.service', port: 27017, served: true }],
    ...overrides,
  };
}

function deployment(containers: ContainerStatus[]): DeploymentStatus {
  const base = {
    project: 'distctl',
    network: { name: 'incusbr0', exists: true, owned: true, address: '10.10.10.1/24', declared: '10.10.10.1/24' },
    containers,
    services: [],
    databases: { replicaSets: [], standalones: [] },
  };
  return { ...base, differences: differencesOf(base) };
}

describe('listeners in status', () => {
  it('an active unit whose port nothing serves is a difference; an unknown listener set is not', () => {
    const status = deployment([
      container({ name: 'db1', ports: [{ unit: 'mongod-27017.service', port: 27017, served: false }] }),
      container({
        name: 'db2',
        declaredIp: '10.10.10.13',
        actualIps: ['10.10.10.13'],
        ports: [{ unit: 'mongod-27017.service', port: 27017, served: null }],
      }),
    ]);
    expect(status.differences).toEqual([
      'db1: mongod-27017.service is active but nothing serves port 27017 on 10.10.10.12',
    ]);
    expect(renderStatus(status, ui)).toContain('mongod-27017 active port 27017 not served');
  });

  it('a served port adds nothing', () => {
    expect(deployment([container({ name: 'db1' })]).differences).toEqual([]);
  });

  it('an inactive unit is shown by its state alone, not also as a port not served', () => {
    const status = deployment([
      container({
        name: 'db1',
        units: [
          { name: 'mongod-27017.service', load: 'loaded', active: 'inactive', sub: 'dead', mainPid: 0, since: null },
        ],
        ports: [{ unit: 'mongod-27017.service', port: 27017, served: false }],
      }),
    ]);
    expect(status.differences).toEqual(['db1: mongod-27017.service is inactive (dead)']);
    const row = renderStatus(status, ui)
      .split('\n')
      .find((line) => line.startsWith('db1'));
    expect(row).toMatch(/mongod-27017 inactive$/);
  });
});

describe('resources in status', () => {
  it('the table shows CPU time, memory against its limit, disk and processes; a stopped container shows dashes', () => {
    const status = deployment([
      container({ name: 'db1' }),
      container({ name: 'db2', state: 'Stopped', actualIps: [], resources: null, units: [], ports: [] }),
    ]);
    const lines = renderStatus(status, ui).split('\n');
    expect(lines.find((line) => line.startsWith('NAME'))).toMatch(
      /^NAME\s+STATE\s+DECLARED IP\s+ACTUAL IP\s+CPU\s+MEMORY\s+DISK\s+PROCS\s+UNITS$/,
    );
    expect(lines.find((line) => line.startsWith('db1'))).toMatch(
      /^db1\s+running\s+10\.10\.10\.12\s+10\.10\.10\.12\s+12\.5 s\s+47\.9 MiB \/ 512 MiB\s+-\s+6\s+mongod-27017 active$/,
    );
    expect(lines.find((line) => line.startsWith('db2'))).toMatch(
      /^db2\s+stopped\s+10\.10\.10\.12\s+-\s+-\s+-\s+-\s+-\s+-$/,
    );
  });

  it('--watch shows CPU as a rate between refreshes, in the table and in JSON', () => {
    const before = deployment([container({ name: 'db1' })]);
    const after = deployment([
      container({
        name: 'db1',
        resources: { cpuSeconds: 13.5, memoryBytes: 1, memoryLimitBytes: null, diskBytes: 4096, processes: 7 },
      }),
    ]);
    const rates = cpuRates(before, after, 4);
    expect([...rates]).toEqual([['db1', 0.25]]);
    expect(
      renderStatus(after, ui, rates)
        .split('\n')
        .find((line) => line.startsWith('db1')),
    ).toMatch(/\s25 %\s+1 B\s+4 KiB\s+7\s/);
    const json = statusJson(after, rates) as { containers: { cpuRate?: number; resources: unknown }[] };
    expect(json.containers[0]?.cpuRate).toBe(0.25);
    expect(json.containers[0]?.resources).toEqual({
      cpuSeconds: 13.5,
      memoryBytes: 1,
      memoryLimitBytes: null,
      diskBytes: 4096,
      processes: 7,
    });
    expect((statusJson(after) as { containers: object[] }).containers[0]).not.toHaveProperty('cpuRate');
  });
});

describe('status --format prometheus', () => {
  it('prints the deployment as metrics, every series labelled with the project', async () => {
    const status: DeploymentStatus = {
      ...deployment([
        container({ name: 'db1', ports: [{ unit: 'mongod-27017.service', port: 27017, served: false }] }),
        container({ name: 'db2', state: 'Stopped', resources: null, units: [], ports: [] }),
      ]),
      services: [
        {
          name: 'web-server',
          container: 'web',
          url: 'http://10.10.10.11:3000',
          health: { ok: true, status: 200, body: 'ok' },
          ready: { ok: false, status: 503, body: {} },
        },
      ],
      databases: {
        replicaSets: [
          {
            name: 'rsA',
            reachable: true,
            initiated: true,
            primary: '10.10.10.12:27017',
            reportedBy: '10.10.10.12:27017',
            members: [
              { host: '10.10.10.12:27017', container: 'db1', port: 27017, state: 'PRIMARY', health: 1, lagSeconds: 0 },
              {
                host: '10.10.10.12:27018',
                container: 'db1',
                port: 27018,
                state: 'SECONDARY',
                health: 1,
                lagSeconds: 2,
              },
            ],
          },
          { name: 'rsB', reachable: false, reason: 'unreachable', error: 'connect ECONNREFUSED' },
        ],
        standalones: [{ name: 'users', host: '10.10.10.14:27017', container: 'db3', reachable: true }],
      },
    };
    const text = await deploymentMetrics({ ...status, differences: ['x'] });
    const samples = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(samples).toEqual([
      'distctl_deployment_ok{project="distctl"} 0',
      'distctl_deployment_differences{project="distctl"} 1',
      'distctl_network_present{network="incusbr0",project="distctl"} 1',
      'distctl_container_running{container="db1",project="distctl"} 1',
      'distctl_container_running{container="db2",project="distctl"} 0',
      'distctl_container_cpu_seconds{container="db1",project="distctl"} 12.5',
      'distctl_container_memory_bytes{container="db1",project="distctl"} 50266112',
      'distctl_container_memory_limit_bytes{container="db1",project="distctl"} 536870912',
      'distctl_container_processes{container="db1",project="distctl"} 6',
      'distctl_unit_active{container="db1",unit="mongod-27017.service",project="distctl"} 1',
      'distctl_port_served{container="db1",unit="mongod-27017.service",port="27017",project="distctl"} 0',
      'distctl_service_healthy{service="web-server",project="distctl"} 1',
      'distctl_service_ready{service="web-server",project="distctl"} 0',
      'distctl_replica_set_reachable{replica_set="rsA",project="distctl"} 1',
      'distctl_replica_set_reachable{replica_set="rsB",project="distctl"} 0',
      'distctl_replica_set_has_primary{replica_set="rsA",project="distctl"} 1',
      'distctl_replica_set_member_state{replica_set="rsA",member="10.10.10.12:27017",state="PRIMARY",project="distctl"} 1',
      'distctl_replica_set_member_state{replica_set="rsA",member="10.10.10.12:27018",state="SECONDARY",project="distctl"} 1',
      'distctl_replica_set_member_health{replica_set="rsA",member="10.10.10.12:27017",project="distctl"} 1',
      'distctl_replica_set_member_health{replica_set="rsA",member="10.10.10.12:27018",project="distctl"} 1',
      'distctl_replica_set_member_lag_seconds{replica_set="rsA",member="10.10.10.12:27017",project="distctl"} 0',
      'distctl_replica_set_member_lag_seconds{replica_set="rsA",member="10.10.10.12:27018",project="distctl"} 2',
      'distctl_database_reachable{database="users",project="distctl"} 1',
    ]);
    expect(text).toContain('# TYPE distctl_container_running gauge');
    expect(text).toContain(
      '# HELP distctl_port_served 1 when something listens on the declared port (absent when unknown)',
    );
  });
});
