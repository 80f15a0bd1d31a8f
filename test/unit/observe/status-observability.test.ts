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

describe('status --format prometheus: what each series says in the other cases', () => {
  const samples = async (status: DeploymentStatus): Promise<string[]> =>
    (await deploymentMetrics(status)).split('\n').filter((line) => line !== '' && !line.startsWith('#'));

  it('converged is ok; disk, no limit, an inactive unit, an unknown port, proxies present or not', async () => {
    const status = deployment([
      container({
        name: 'web',
        units: [active('web-server.service'), { ...active('old.service'), active: 'inactive', sub: 'dead' }],
        ports: [{ unit: 'web-server.service', port: 3000, served: null }],
        proxies: [
          { device: 'proxy-80', listen: 'tcp:0.0.0.0:80', present: true },
          { device: 'proxy-443', listen: 'tcp:0.0.0.0:443', present: false },
        ],
        resources: { cpuSeconds: 1, memoryBytes: 2048, memoryLimitBytes: null, diskBytes: 4096, processes: 3 },
      }),
    ]);
    expect(await samples({ ...status, differences: [] })).toEqual([
      'distctl_deployment_ok{project="distctl"} 1',
      'distctl_deployment_differences{project="distctl"} 0',
      'distctl_network_present{network="incusbr0",project="distctl"} 1',
      'distctl_container_running{container="web",project="distctl"} 1',
      'distctl_container_cpu_seconds{container="web",project="distctl"} 1',
      'distctl_container_memory_bytes{container="web",project="distctl"} 2048',
      'distctl_container_disk_bytes{container="web",project="distctl"} 4096',
      'distctl_container_processes{container="web",project="distctl"} 3',
      'distctl_unit_active{container="web",unit="web-server.service",project="distctl"} 1',
      'distctl_unit_active{container="web",unit="old.service",project="distctl"} 0',
      'distctl_proxy_present{container="web",listen="tcp:0.0.0.0:80",project="distctl"} 1',
      'distctl_proxy_present{container="web",listen="tcp:0.0.0.0:443",project="distctl"} 0',
    ]);
  });

  it('the network counts as present only when it exists with its declared address', async () => {
    const network = (over: Partial<DeploymentStatus['network']>) => ({
      ...deployment([]),
      network: { ...deployment([]).network, ...over },
    });
    const line = async (status: DeploymentStatus) =>
      (await samples(status)).find((sample) => sample.startsWith('distctl_network_present'));
    expect(await line(network({ address: '10.20.0.1/24' }))).toBe(
      'distctl_network_present{network="incusbr0",project="distctl"} 0',
    );
    expect(await line(network({ exists: false }))).toBe(
      'distctl_network_present{network="incusbr0",project="distctl"} 0',
    );
  });

  it('a set without a PRIMARY has_primary 0; a member with unknown health or lag has no such series', async () => {
    const status: DeploymentStatus = {
      ...deployment([]),
      databases: {
        replicaSets: [
          {
            name: 'rsA',
            reachable: true,
            initiated: true,
            primary: null,
            reportedBy: '10.10.10.12:27017',
            members: [
              {
                host: '10.10.10.12:27017',
                container: 'db1',
                port: 27017,
                state: 'STARTUP2',
                health: null,
                lagSeconds: null,
              },
            ],
          },
        ],
        standalones: [],
      },
    };
    expect((await samples(status)).filter((sample) => sample.startsWith('distctl_replica_set'))).toEqual([
      'distctl_replica_set_reachable{replica_set="rsA",project="distctl"} 1',
      'distctl_replica_set_has_primary{replica_set="rsA",project="distctl"} 0',
      'distctl_replica_set_member_state{replica_set="rsA",member="10.10.10.12:27017",' +
        'state="STARTUP2",project="distctl"} 1',
    ]);
  });
});
