// Exact outcomes of the observe stage's pure parts: systemctl parsing, HTTP probes, Incus reads
// and the words `status` uses for each difference. Each test pins what a mutation would change.
import { describe, expect, it, vi } from 'vitest';
import type { ContainerOps } from '../../../src/incus/container-ops.js';
import type { IncusClient } from '../../../src/incus/client.js';
import type { IncusInstance } from '../../../src/incus/types.js';
import type { MongoAdmin } from '../../../src/mongo/admin.js';
import { describeProbe, differencesOf, runningOnly, type DeploymentStatus } from '../../../src/observe/deployment.js';
import { probeHttp } from '../../../src/observe/http.js';
import { instanceAddresses, observeIncus, proxyInPlace } from '../../../src/observe/incus.js';
import { containerProbeArgv, parseUnitStates, probeContainer } from '../../../src/observe/units.js';

describe('systemctl show: argv and parsing', () => {
  it('reads every unit and the listeners in one exec; unit names are arguments, not script text', () => {
    expect(containerProbeArgv(['a.service', 'b; rm -rf /'])).toEqual([
      'sh',
      '-c',
      'systemctl show --property=Id,LoadState,ActiveState,SubState,MainPID,ActiveEnterTimestamp -- "$@"; echo --distctl-listeners--; ss -Hltn',
      'distctl-status',
      'a.service',
      'b; rm -rf /',
    ]);
  });

  it('parses blocks separated by blank lines, values containing "=", and an empty timestamp as null', () => {
    const output = [
      'Id=a.service',
      'LoadState=loaded',
      'ActiveState=active',
      'SubState=running',
      'MainPID=42',
      'ActiveEnterTimestamp=Sat 2026-11-28 10:00:00 UTC',
      '',
      'Id=b.service',
      'LoadState=not-found',
      'ActiveState=inactive',
      'SubState=dead',
      'MainPID=0',
      'ActiveEnterTimestamp=',
      '  ',
      'Id=c=weird.service',
      'no equals sign here',
    ].join('\n');
    expect(parseUnitStates(output)).toEqual([
      {
        name: 'a.service',
        load: 'loaded',
        active: 'active',
        sub: 'running',
        mainPid: 42,
        since: 'Sat 2026-11-28 10:00:00 UTC',
      },
      { name: 'b.service', load: 'not-found', active: 'inactive', sub: 'dead', mainPid: 0, since: null },
      { name: 'c=weird.service', load: 'unknown', active: 'unknown', sub: 'unknown', mainPid: 0, since: null },
    ]);
  });

  it('drops blocks without an Id', () => {
    expect(parseUnitStates('LoadState=loaded\nActiveState=active\n')).toEqual([]);
    expect(parseUnitStates('')).toEqual([]);
  });
});

/** ContainerOps whose exec answers from a script and records the calls. */
function opsAnswering(result: { stdout: string; stderr?: string; exitCode?: number }): {
  ops: ContainerOps;
  calls: unknown[][];
} {
  const calls: unknown[][] = [];
  const ops = {
    exec: async (container: string, argv: readonly string[], options?: unknown) => {
      calls.push([container, argv, options]);
      return { stdout: result.stdout, stderr: result.stderr ?? '', exitCode: result.exitCode ?? 0, timedOut: false };
    },
  } as unknown as ContainerOps;
  return { ops, calls };
}

describe('probeContainer', () => {
  const B = 'Id=b.service\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=7\nActiveEnterTimestamp=t\n';
  const unknown = (name: string, sub = 'unknown') => ({
    name,
    load: 'unknown',
    active: 'unknown',
    sub,
    mainPid: 0,
    since: null,
  });

  it('asks nothing when there are no units', async () => {
    const { ops, calls } = opsAnswering({ stdout: '' });
    expect(await probeContainer(ops, 'c1', [])).toEqual({ units: [], listeners: null });
    expect(calls).toEqual([]);
  });

  it('runs one exec with a 20 s bound; units in the asked order, unknown ones as unknown; listeners after the mark', async () => {
    const { ops, calls } = opsAnswering({ stdout: `${B}--distctl-listeners--\nLISTEN 0 511 0.0.0.0:3000 0.0.0.0:*\n` });
    const probe = await probeContainer(ops, 'c1', ['a.service', 'b.service']);
    expect(probe.units).toEqual([
      unknown('a.service'),
      { name: 'b.service', load: 'loaded', active: 'active', sub: 'running', mainPid: 7, since: 't' },
    ]);
    expect(probe.listeners?.length).toBe(1);
    expect(calls).toEqual([['c1', containerProbeArgv(['a.service', 'b.service']), { timeoutMs: 20_000 }]]);
  });

  it('without the mark and with a failed exec: the last stderr line of systemctl, no listeners', async () => {
    const { ops } = opsAnswering({ stdout: '', stderr: 'first\nFailed to connect to bus\n', exitCode: 1 });
    expect(await probeContainer(ops, 'c1', ['a.service'])).toEqual({
      units: [unknown('a.service', 'systemctl failed: Failed to connect to bus')],
      listeners: null,
    });
  });

  it('without the mark but exit 0: units read, unknown ones plain unknown, no listeners', async () => {
    const { ops } = opsAnswering({ stdout: B });
    expect(await probeContainer(ops, 'c1', ['a.service', 'b.service'])).toEqual({
      units: [
        unknown('a.service'),
        { name: 'b.service', load: 'loaded', active: 'active', sub: 'running', mainPid: 7, since: 't' },
      ],
      listeners: null,
    });
  });

  it('with the mark but ss missing (exit 127): units still read, listeners unknown', async () => {
    const { ops } = opsAnswering({ stdout: `${B}--distctl-listeners--\n`, stderr: 'sh: ss: not found', exitCode: 127 });
    expect(await probeContainer(ops, 'c1', ['a.service', 'b.service'])).toEqual({
      units: [
        unknown('a.service'),
        { name: 'b.service', load: 'loaded', active: 'active', sub: 'running', mainPid: 7, since: 't' },
      ],
      listeners: null,
    });
  });

  it('with the mark and no listeners at all: an empty list, not unknown', async () => {
    const { ops } = opsAnswering({ stdout: `${B}--distctl-listeners--\n` });
    expect((await probeContainer(ops, 'c1', ['b.service'])).listeners).toEqual([]);
  });
});

describe('probeHttp', () => {
  const answering = (status: number, text: string) =>
    (async () => new Response(text, { status })) as unknown as typeof fetch;

  it('parses a JSON body and reports ok for 2xx', async () => {
    expect(await probeHttp('http://x/health', { fetch: answering(200, '{"status":"ok"}') })).toEqual({
      ok: true,
      status: 200,
      body: { status: 'ok' },
    });
  });

  it('keeps a non-JSON body as text and reports not ok for 503', async () => {
    expect(await probeHttp('http://x/ready', { fetch: answering(503, 'down') })).toEqual({
      ok: false,
      status: 503,
      body: 'down',
    });
  });

  it('passes a timeout signal (3 s by default, connection included) and the URL', async () => {
    const timeout = vi.spyOn(AbortSignal, 'timeout');
    const seen: unknown[] = [];
    const fetcher = (async (url: string, init: RequestInit) => {
      seen.push(url, init.signal instanceof AbortSignal);
      return new Response('{}', { status: 200 });
    }) as unknown as typeof fetch;
    await probeHttp('http://x/health', { fetch: fetcher });
    expect(seen).toEqual(['http://x/health', true]);
    expect(timeout.mock.calls).toEqual([[3_000]]);
    timeout.mockRestore();
  });

  it('reports a refused connection by its code, a timeout as "timed out", anything else by its message', async () => {
    const refusing = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }) as unknown as typeof fetch;
    expect(await probeHttp('http://x', { fetch: refusing })).toEqual({
      ok: false,
      status: null,
      error: 'ECONNREFUSED',
    });
    const slow = (async () => {
      throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    }) as unknown as typeof fetch;
    expect(await probeHttp('http://x', { fetch: slow })).toEqual({ ok: false, status: null, error: 'timed out' });
    const broken = (async () => {
      throw new Error('boom');
    }) as unknown as typeof fetch;
    expect(await probeHttp('http://x', { fetch: broken })).toEqual({ ok: false, status: null, error: 'boom' });
  });

  it('times out for real after timeoutMs', async () => {
    const hanging = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) =>
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      )) as unknown as typeof fetch;
    expect(await probeHttp('http://x', { fetch: hanging, timeoutMs: 5 })).toEqual({
      ok: false,
      status: null,
      error: 'timed out',
    });
  });
});

const instance = (over: Partial<IncusInstance> = {}): IncusInstance =>
  ({ name: 'c1', status: 'Running', type: 'container', config: {}, devices: {}, ...over }) as IncusInstance;

describe('Incus reads', () => {
  it('instanceAddresses returns the IPv4 addresses of the NIC asked for, eth0 by default', () => {
    const withAddresses = instance({
      state: {
        status: 'Running',
        network: {
          eth0: {
            addresses: [
              { family: 'inet6', address: 'fe80::1', netmask: '64', scope: 'link' },
              { family: 'inet', address: '10.0.0.2', netmask: '24', scope: 'global' },
            ],
          },
          eth1: { addresses: [{ family: 'inet', address: '10.1.0.2', netmask: '24', scope: 'global' }] },
        },
      },
    } as Partial<IncusInstance>);
    expect(instanceAddresses(withAddresses)).toEqual(['10.0.0.2']);
    expect(instanceAddresses(withAddresses, 'eth1')).toEqual(['10.1.0.2']);
    expect(instanceAddresses(instance())).toEqual([]);
    expect(
      instanceAddresses(instance({ state: { status: 'Stopped', network: null } } as Partial<IncusInstance>)),
    ).toEqual([]);
  });

  it('proxyInPlace needs a proxy device with exactly the declared listen and connect', () => {
    const proxy = {
      container: 'c1',
      device: 'expose-web',
      listen: 'tcp:0.0.0.0:8080',
      connect: 'tcp:127.0.0.1:3000',
    } as const;
    const withDevice = (device: Record<string, string>) => instance({ devices: { 'expose-web': device } });
    expect(
      proxyInPlace(withDevice({ type: 'proxy', listen: proxy.listen, connect: proxy.connect }), proxy as never),
    ).toBe(true);
    expect(
      proxyInPlace(withDevice({ type: 'disk', listen: proxy.listen, connect: proxy.connect }), proxy as never),
    ).toBe(false);
    expect(
      proxyInPlace(withDevice({ type: 'proxy', listen: 'tcp:0.0.0.0:8081', connect: proxy.connect }), proxy as never),
    ).toBe(false);
    expect(
      proxyInPlace(withDevice({ type: 'proxy', listen: proxy.listen, connect: 'tcp:127.0.0.1:3001' }), proxy as never),
    ).toBe(false);
    expect(proxyInPlace(instance(), proxy as never)).toBe(false);
    expect(proxyInPlace(undefined, proxy as never)).toBe(false);
  });

  it('observeIncus lists instances beside the other reads; only an existing project uses the answer', async () => {
    const asked: string[] = [];
    const client = (projects: { name: string }[], instances: () => Promise<unknown[]>) =>
      ({
        listProjects: async () => (asked.push('projects'), projects),
        listNetworks: async () => (asked.push('networks'), [{ name: 'br0' }]),
        listInstances: async (scope: { project: string }) => (asked.push(`instances ${scope.project}`), instances()),
      }) as unknown as IncusClient;
    const refused = () => Promise.reject(new Error('Project not found'));
    // All three asked at once: none waits for another's answer.
    const pending = observeIncus(client([{ name: 'other' }], refused), 'p1');
    expect(asked).toEqual(['projects', 'networks', 'instances p1']);
    expect(await pending).toEqual({ project: null, networks: [{ name: 'br0' }], instances: [] });
    asked.length = 0;
    expect(
      await observeIncus(
        client([{ name: 'other' }], async () => [{ name: 'c1' }]),
        'p1',
      ),
    ).toEqual({
      project: null,
      networks: [{ name: 'br0' }],
      instances: [],
    });
    expect(
      await observeIncus(
        client([{ name: 'other' }, { name: 'p1' }], async () => [{ name: 'c1' }]),
        'p1',
      ),
    ).toEqual({ project: { name: 'p1' }, networks: [{ name: 'br0' }], instances: [{ name: 'c1' }] });
    // For a project that exists, a failed listing is an error, not an empty project.
    await expect(observeIncus(client([{ name: 'p1' }], refused), 'p1')).rejects.toThrow('Project not found');
  });
});

type Status = Omit<DeploymentStatus, 'differences'>;
const healthy: Status = {
  project: 'p1',
  network: { name: 'br0', exists: true, owned: true, address: '10.0.0.1/24', declared: '10.0.0.1/24' },
  containers: [
    {
      name: 'c1',
      state: 'Running',
      owned: true,
      declaredIp: '10.0.0.2',
      actualIps: ['10.0.0.2'],
      units: [{ name: 'web.service', load: 'loaded', active: 'active', sub: 'running', mainPid: 1, since: null }],
      proxies: [{ device: 'expose-web', listen: 'tcp:0.0.0.0:8080', present: true }],
      resources: null,
      ports: [{ unit: 'web.service', port: 3000, served: true }],
    },
  ],
  services: [
    {
      name: 'web',
      container: 'c1',
      url: 'http://10.0.0.2:3000',
      health: { ok: true, status: 200, body: {} },
      ready: { ok: true, status: 200, body: {} },
    },
  ],
  databases: {
    replicaSets: [
      {
        name: 'rsA',
        reachable: true,
        initiated: true,
        primary: '10.0.0.3:27017',
        reportedBy: '10.0.0.3:27017',
        members: [
          { host: '10.0.0.3:27017', container: 'db1', port: 27017, state: 'PRIMARY', health: 1, lagSeconds: 0 },
          { host: '10.0.0.4:27017', container: 'db2', port: 27017, state: 'SECONDARY', health: 1, lagSeconds: 0 },
        ],
      },
    ],
    standalones: [{ name: 'users', host: '10.0.0.5:27017', container: 'db3', reachable: true }],
  },
} as unknown as Status;
const c1 = healthy.containers[0]!;
const rsA = healthy.databases.replicaSets[0]! as Extract<
  Status['databases']['replicaSets'][number],
  { reachable: true }
>;
const withContainer = (over: Partial<typeof c1>): Status => ({ ...healthy, containers: [{ ...c1, ...over }] });

describe('differencesOf: the words of status', () => {
  it('finds nothing when everything is as declared', () => {
    expect(differencesOf(healthy)).toEqual([]);
  });

  it('network missing, or with another address', () => {
    expect(differencesOf({ ...healthy, network: { ...healthy.network, exists: false, address: null } })).toEqual([
      'network br0 does not exist',
    ]);
    expect(differencesOf({ ...healthy, network: { ...healthy.network, address: '10.9.0.1/24' } })).toEqual([
      'network br0 has 10.9.0.1/24, declared 10.0.0.1/24',
    ]);
    expect(differencesOf({ ...healthy, network: { ...healthy.network, address: null } })).toEqual([
      'network br0 has no address, declared 10.0.0.1/24',
    ]);
  });

  it("a network or a running container without this deployment's owner mark", () => {
    expect(
      differencesOf({ ...healthy, network: { ...healthy.network, owned: false, address: '10.9.0.1/24' } }),
    ).toEqual(['network br0 was not created by this deployment (distctl up refuses to use it)']);
    expect(differencesOf(withContainer({ owned: false }))).toEqual([
      'container c1 was not created by this deployment (distctl up refuses to use it)',
    ]);
    expect(differencesOf(withContainer({ owned: false, state: 'Stopped' }))).toEqual(['container c1 is stopped']);
  });

  it('a container not running says only that', () => {
    expect(
      differencesOf(
        withContainer({
          state: 'Stopped',
          actualIps: [],
          proxies: [{ device: 'expose-web', listen: 'tcp:0.0.0.0:8080', present: false }],
        }),
      ),
    ).toEqual(['container c1 is stopped']);
    expect(differencesOf(withContainer({ state: 'missing' }))).toEqual(['container c1 is missing']);
  });

  it('a wrong, missing or extra address', () => {
    expect(differencesOf(withContainer({ actualIps: ['10.0.0.9'] }))).toEqual([
      'container c1 has 10.0.0.9, declared 10.0.0.2',
    ]);
    expect(differencesOf(withContainer({ actualIps: [] }))).toEqual(['container c1 has no IPv4, declared 10.0.0.2']);
    expect(differencesOf(withContainer({ actualIps: ['10.0.0.2', '10.0.0.7'] }))).toEqual([
      'container c1 has 10.0.0.2, 10.0.0.7, declared 10.0.0.2',
    ]);
  });

  it('a unit not active, or not installed; a proxy missing', () => {
    const unit = c1.units[0]!;
    expect(differencesOf(withContainer({ units: [{ ...unit, active: 'failed', sub: 'failed' }] }))).toEqual([
      'c1: web.service is failed (failed)',
    ]);
    expect(
      differencesOf(withContainer({ units: [{ ...unit, load: 'not-found', active: 'inactive', sub: 'dead' }] })),
    ).toEqual(['c1: web.service is not installed']);
    expect(
      differencesOf(withContainer({ proxies: [{ device: 'expose-web', listen: 'tcp:0.0.0.0:8080', present: false }] })),
    ).toEqual(['c1: proxy tcp:0.0.0.0:8080 is missing']);
  });

  it("an active unit whose declared port nothing serves; unknown serving and other units' ports are not differences", () => {
    const ports = (...list: { unit: string; port: number; served: boolean | null }[]) => withContainer({ ports: list });
    expect(differencesOf(ports({ unit: 'web.service', port: 3000, served: false }))).toEqual([
      'c1: web.service is active but nothing serves port 3000 on 10.0.0.2',
    ]);
    expect(
      differencesOf(
        ports({ unit: 'web.service', port: 3000, served: null }, { unit: 'other.service', port: 4000, served: false }),
      ),
    ).toEqual([]);
    const failed = { ...c1.units[0]!, active: 'failed', sub: 'failed' };
    expect(
      differencesOf(withContainer({ units: [failed], ports: [{ unit: 'web.service', port: 3000, served: false }] })),
    ).toEqual(['c1: web.service is failed (failed)']);
  });

  it('a service unhealthy, or healthy but not ready', () => {
    const web = healthy.services[0]!;
    expect(
      differencesOf({
        ...healthy,
        services: [
          {
            ...web,
            health: { ok: false, status: null, error: 'ECONNREFUSED' },
            ready: { ok: false, status: 503, body: {} },
          },
        ],
      }),
    ).toEqual(['service web: /health unreachable (ECONNREFUSED)']);
    expect(differencesOf({ ...healthy, services: [{ ...web, ready: { ok: false, status: 503, body: {} } }] })).toEqual([
      'service web: not ready (answered 503)',
    ]);
  });

  it('databases: unreachable set, no primary, a member neither PRIMARY nor SECONDARY, unreachable standalone', () => {
    const databases = (replicaSets: unknown[], standalones = healthy.databases.standalones) =>
      ({ ...healthy, databases: { replicaSets, standalones } }) as Status;
    expect(
      differencesOf(databases([{ name: 'rsA', reachable: false, reason: 'unreachable', error: 'timed out' }])),
    ).toEqual(['replica set rsA unreachable: timed out']);
    expect(
      differencesOf(databases([{ ...rsA, primary: null, members: [{ ...rsA.members[0]!, state: 'SECONDARY' }] }])),
    ).toEqual(['replica set rsA has no PRIMARY']);
    expect(
      differencesOf(databases([{ ...rsA, members: [rsA.members[0]!, { ...rsA.members[1]!, state: 'RECOVERING' }] }])),
    ).toEqual(['replica set rsA: 10.0.0.4:27017 is RECOVERING']);
    expect(
      differencesOf(
        databases(
          healthy.databases.replicaSets as unknown[],
          [
            {
              name: 'users',
              host: '10.0.0.5:27017',
              container: 'db3',
              reachable: false,
              reason: 'unreachable',
              error: 'ECONNREFUSED',
            },
          ] as never,
        ),
      ),
    ).toEqual(['database users (10.0.0.5:27017) unreachable: ECONNREFUSED']);
  });

  it('a container on a member not Online: unreachable when Offline, else unavailable; unknown: as usual', () => {
    expect(differencesOf(withContainer({ member: { name: 'm2', state: 'Offline' }, state: 'Error' }))).toEqual([
      'container c1 is unreachable: its cluster member m2 is Offline',
    ]);
    expect(differencesOf(withContainer({ member: { name: 'm2', state: 'Evacuated' }, state: 'Stopped' }))).toEqual([
      'container c1 is unavailable: its cluster member m2 is Evacuated',
    ]);
    expect(differencesOf(withContainer({ member: { name: 'm9', state: null } }))).toEqual([]);
    expect(differencesOf(withContainer({ member: { name: 'm9', state: null }, state: 'Stopped' }))).toEqual([
      'container c1 is stopped',
    ]);
  });

  it('describeProbe is short', () => {
    expect(describeProbe({ ok: false, status: null, error: 'ECONNREFUSED' })).toBe('unreachable (ECONNREFUSED)');
    expect(describeProbe({ ok: false, status: 500, body: 'x' })).toBe('answered 500');
  });
});

describe('runningOnly: the admin limited to running containers', () => {
  it('passes commands for running containers, refuses others without traffic, closes the admin', async () => {
    const calls: string[] = [];
    const admin: MongoAdmin = {
      command: async (target, db, cmd, options) => {
        calls.push(`${target.host} ${db} ${JSON.stringify(cmd)} ${JSON.stringify(options)}`);
        return { ok: 1 };
      },
      close: async () => {
        calls.push('close');
      },
    };
    const limited = runningOnly(admin, new Set(['db1']));
    const options = { credentials: { username: 'root', password: 'pw' } };
    expect(
      await limited.command({ container: 'db1', host: '10.0.0.3:27017', port: 27017 }, 'admin', { ping: 1 }, options),
    ).toEqual({ ok: 1 });
    await expect(
      limited.command({ container: 'db2', host: '10.0.0.4:27017', port: 27017 }, 'admin', { ping: 1 }),
    ).rejects.toThrow(new Error('10.0.0.4:27017: container db2 is not running'));
    await limited.close();
    expect(calls).toEqual([`10.0.0.3:27017 admin {"ping":1} ${JSON.stringify(options)}`, 'close']);
  });
});
