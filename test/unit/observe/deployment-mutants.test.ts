// observeDeployment end to end over fakes: what it reads, and exactly what it reports for a
// converged deployment and for a missing container and network (the reference topology).
import { describe, expect, it } from 'vitest';
import type { DesiredState } from '../../../src/derive/types.js';
import type { IncusClient } from '../../../src/incus/client.js';
import type { ContainerOps } from '../../../src/incus/container-ops.js';
import type { MongoAdmin } from '../../../src/mongo/admin.js';
import { observeDeployment, type DeploymentStatus } from '../../../src/observe/deployment.js';
import type { ObservedIncus } from '../../../src/observe/incus.js';
import { convergedState, ownedNetwork, referenceDesired } from '../plan/fixtures.js';

const desired = referenceDesired();

/** A container whose units are all active and whose declared ports are all served on its address. */
function healthyExec(desired: DesiredState): ContainerOps {
  return {
    exec: async (container: string, argv: readonly string[]) => {
      const declared = desired.containers.find((c) => c.name === container)!;
      const units = argv.slice(4);
      const states = units.map(
        (unit) =>
          `Id=${unit}\nLoadState=loaded\nActiveState=active\nSubState=running\nMainPID=9\nActiveEnterTimestamp=t`,
      );
      const ports = declared.units.map((unit) =>
        unit.kind === 'mongod' ? unit.process.port : desired.services.find((s) => s.name === unit.service)!.port,
      );
      const listeners = ports.map((port) => `LISTEN 0 511 ${declared.ipv4}:${port} 0.0.0.0:*`);
      return {
        stdout: `${states.join('\n\n')}\n--distctl-listeners--\n${listeners.join('\n')}\n`,
        stderr: '',
        exitCode: 0,
        timedOut: false,
      };
    },
  } as unknown as ContainerOps;
}

function clientOf(observed: ObservedIncus): IncusClient {
  return {
    listProjects: async () => (observed.project ? [observed.project] : []),
    listNetworks: async () => observed.networks,
    listInstances: async () => observed.instances,
  } as unknown as IncusClient;
}

const downMongo = {
  command: async () => Promise.reject(new Error('ECONNREFUSED')),
  close: async () => undefined,
} as unknown as MongoAdmin;
const fetchedUrls: string[] = [];
const okFetch = (async (url: string) => {
  fetchedUrls.push(url);
  return new Response('{"status":"ok"}', { status: 200 });
}) as unknown as typeof fetch;

/** The differences that do not come from the (down) databases. */
const platformDifferences = (status: DeploymentStatus) =>
  status.differences.filter((d) => !/^(replica set|database) /.test(d));

describe('observeDeployment', () => {
  it('a converged deployment: every container running with its address, units active, ports served, proxies present, services probed', async () => {
    fetchedUrls.length = 0;
    const status = await observeDeployment(desired, {
      client: clientOf(convergedState(desired)),
      ops: healthyExec(desired),
      mongo: downMongo,
      fetch: okFetch,
    });
    expect(status.project).toBe('distctl');
    expect(status.network).toEqual({
      name: 'incusbr0',
      exists: true,
      owned: true,
      address: '10.10.10.1/24',
      declared: '10.10.10.1/24',
    });
    expect(
      status.containers.map((c) => [
        c.name,
        c.state,
        c.actualIps,
        c.units.map((u) => u.active),
        c.ports.map((p) => p.served),
        c.proxies,
      ]),
    ).toEqual(
      desired.containers.map((c) => [
        c.name,
        'Running',
        [c.ipv4],
        c.units.map(() => 'active'),
        c.units.map(() => true),
        desired.proxies
          .filter((p) => p.container === c.name)
          .map((p) => ({ device: p.device, listen: p.listen, present: true })),
      ]),
    );
    expect(status.containers.every((c) => c.ports.every((p) => p.port > 0))).toBe(true);
    expect(status.services).toEqual(
      desired.services.map((s) => ({
        name: s.name,
        container: s.container,
        url: s.url,
        health: { ok: true, status: 200, body: { status: 'ok' } },
        ready: { ok: true, status: 200, body: { status: 'ok' } },
      })),
    );
    expect(fetchedUrls.sort()).toEqual(desired.services.flatMap((s) => [`${s.url}/health`, `${s.url}/ready`]).sort());
    expect(platformDifferences(status)).toEqual([]);
    expect(status.databases.replicaSets.map((set) => set.reachable)).toEqual(desired.replicaSets.map(() => false));
  });

  it('a missing container and network: reported as missing, units unknown, ports unknown, no address', async () => {
    const observed = convergedState(desired);
    const gone = { ...observed, networks: [], instances: observed.instances.filter((i) => i.name !== 'db1') };
    const status = await observeDeployment(desired, {
      client: clientOf(gone),
      ops: healthyExec(desired),
      mongo: downMongo,
      fetch: okFetch,
    });
    expect(status.network).toEqual({
      name: 'incusbr0',
      exists: false,
      owned: false,
      address: null,
      declared: '10.10.10.1/24',
    });
    const db1 = status.containers.find((c) => c.name === 'db1')!;
    const declared = desired.containers.find((c) => c.name === 'db1')!;
    expect(db1).toEqual({
      name: 'db1',
      state: 'missing',
      member: null,
      owned: false,
      declaredIp: declared.ipv4,
      actualIps: [],
      units: declared.units.map((u) => ({
        name: u.name,
        load: 'unknown',
        active: 'unknown',
        sub: 'container not running',
        mainPid: 0,
        since: null,
      })),
      proxies: [],
      resources: null,
      ports: declared.units.map((u) => ({
        unit: u.name,
        port: u.kind === 'mongod' ? u.process.port : 0,
        served: null,
      })),
    });
    expect(platformDifferences(status)).toEqual(['network incusbr0 does not exist', 'container db1 is missing']);
  });

  it('a network owned by another deployment is reported as not owned', async () => {
    const observed = convergedState(desired);
    const foreign = { ...observed, networks: [ownedNetwork(desired, { 'user.distctl.owner': 'other' })] };
    const status = await observeDeployment(desired, {
      client: clientOf(foreign),
      ops: healthyExec(desired),
      mongo: downMongo,
      fetch: okFetch,
    });
    expect(status.network.owned).toBe(false);
    expect(status.network.exists).toBe(true);
  });
});
