// `distctl status` in-process: Incus is the in-memory model, systemd inside
// the containers the strict container fake, MongoDB and HTTP scripted fakes.
// Exit 0 only when everything is exactly as declared; one test per kind of
// difference, each naming the exact difference reported.
import type { Document } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyPlan } from '../../../src/apply/index.js';
import { statusCommand } from '../../../src/commands/status.js';
import { IncusClient } from '../../../src/incus/client.js';
import { MongoUnreachableError, type MongoAdmin, type MongoTarget } from '../../../src/mongo/admin.js';
import { observeIncus } from '../../../src/observe/incus.js';
import { planUp } from '../../../src/plan/index.js';
import { FakeContainers } from '../deploy/fake-container.js';
import { testDeployment, type TestDeployment } from '../support/deployment.js';

const TOPOLOGY = `
version: 1
project: model-status
image: debian12-distctl
network: { name: dmodelst0, subnet: 10.97.1.0/24, gateway: 10.97.1.1 }
containers:
  - { name: web, ipv4: 10.97.1.10 }
  - { name: db, ipv4: 10.97.1.11 }
mongodb:
  source: image
  replicaSets:
    - { name: rsA, database: products_db, env: DB1_URL, members: [{ container: db, port: 27017, priority: 2 }, { container: db, port: 27018, priority: 1 }] }
  standalones:
    - { name: users, container: db, port: 27019, database: auth_db, env: DB3_URL }
sharding:
  defaultShard: rsA
  ranges: [{ from: A, to: Z, replicaSet: rsA }]
services:
  - { name: auth-server, kind: auth, container: web, port: 5000, database: users }
  - { name: web-server, kind: web, container: web, port: 3000, auth: auth-server }
expose:
  - { container: web, port: 3000, listen: 127.0.0.1:3000 }
`;

/** mongod as status asks it: replSetGetStatus of a set, ping of a standalone; hosts can be down or in any state. */
class ScriptedMongo implements MongoAdmin {
  readonly down = new Set<string>();
  readonly states = new Map<string, string>([
    ['10.97.1.11:27017', 'PRIMARY'],
    ['10.97.1.11:27018', 'SECONDARY'],
  ]);
  async command(target: MongoTarget, _db: string, cmd: Document): Promise<Document> {
    if (this.down.has(target.host))
      throw new MongoUnreachableError(target.host, `${target.host}: connect ECONNREFUSED`);
    if ('ping' in cmd) return { ok: 1 };
    if ('replSetGetStatus' in cmd) {
      return {
        ok: 1,
        members: [...this.states].map(([name, stateStr]) => ({
          name,
          stateStr,
          health: 1,
          optimeDate: new Date(1_000),
        })),
      };
    }
    throw new Error(`ScriptedMongo: status never sends ${JSON.stringify(cmd)}`);
  }
  async close(): Promise<void> {}
}

let t: TestDeployment;
let inside: FakeContainers;
let mongo: ScriptedMongo;
/** HTTP status per URL the services answer with; anything else is refused like a closed port. */
let answers: Map<string, number>;

const fakeFetch: typeof fetch = async (input) => {
  const url = String(input);
  const status = answers.get(url);
  if (status === undefined) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
  return new Response(JSON.stringify(status === 200 ? { ok: true } : { ready: false }), { status });
};

const status = () =>
  statusCommand({
    file: t.file,
    client: t.client(),
    ui: t.ui,
    stateDirFor: t.stateDirFor,
    watchSeconds: null,
    write: () => undefined,
    mongo,
    fetch: fakeFetch,
  });

const differences = (result: Awaited<ReturnType<typeof status>>) =>
  (result.json as { differences: string[] }).differences;

beforeEach(async () => {
  t = await testDeployment(TOPOLOGY);
  inside = new FakeContainers(() => 'sha');
  t.model.inside = inside;
  mongo = new ScriptedMongo();
  answers = new Map(
    [
      'http://10.97.1.10:5000/health',
      'http://10.97.1.10:5000/ready',
      'http://10.97.1.10:3000/health',
      'http://10.97.1.10:3000/ready',
    ].map((url) => [url, 200]),
  );
  // The containers as `up` leaves them, then every unit installed and running.
  const desired = await t.desired();
  const client = new IncusClient(t.model);
  await applyPlan(client, planUp(desired, await observeIncus(client, desired.project)));
  for (const container of desired.containers) {
    for (const unit of container.units) {
      await inside.writeFile(container.name, `/etc/systemd/system/${unit.name}`, '[Unit]\n');
      const service = desired.services.find((candidate) => candidate.unitName === unit.name);
      if (service)
        await inside.writeFile(container.name, `/etc/distctl/${service.name}.env`, `PORT="${service.port}"\n`);
      await inside.exec(container.name, ['systemctl', 'start', unit.name]);
    }
  }
});

afterEach(async () => {
  await t.cleanup();
});

describe('status', () => {
  it('exits 0 and reports no difference when everything is exactly as declared', async () => {
    const result = await status();
    expect(differences(result)).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(result.human).toContain('Everything is as declared.');
  });

  it.each<[string, () => Promise<unknown>, string[]]>([
    [
      'the bridge has another address',
      () => t.model.incus(['network', 'set', 'dmodelst0', 'ipv4.address=10.97.1.254/24']),
      ['network dmodelst0 has 10.97.1.254/24, declared 10.97.1.1/24'],
    ],
    [
      "the bridge is not this deployment's",
      () => t.model.incus(['network', 'set', 'dmodelst0', 'user.distctl.owner=someone-else']),
      ['network dmodelst0 was not created by this deployment (distctl up refuses to use it)'],
    ],
    ['a container is missing', () => t.incus('delete', '--force', 'db'), ['container db is missing']],
    [
      "a container of that name is not this deployment's",
      async () => {
        await t.incus('delete', '--force', 'db');
        await t.incus('create', 'debian12-distctl', 'db');
        await t.incus('config', 'device', 'add', 'db', 'eth0', 'nic', 'network=dmodelst0', 'ipv4.address=10.97.1.11');
        await t.incus('start', 'db');
      },
      ['container db was not created by this deployment (distctl up refuses to use it)'],
    ],
    ['a container is stopped', () => t.incus('stop', 'db'), ['container db is stopped']],
    ['a container is frozen', () => t.incus('pause', 'db'), ['container db is frozen']],
    [
      'a container holds another address',
      async () => {
        t.model.flushing.add('debian12-distctl'); // the image's DHCP client decides
        await t.incus('config', 'device', 'set', 'db', 'eth0', 'ipv4.address=10.97.1.50');
        await t.incus('restart', 'db');
      },
      ['container db has 10.97.1.50, declared 10.97.1.11'],
    ],
    [
      'a unit is not running',
      async () => void (inside.unit('web', 'web-server.service').active = 'failed'),
      ['web: web-server.service is failed (failed)'],
    ],
    [
      'a unit is active but does not serve its port',
      async () => void inside.deaf.add('db:27018'),
      ['db: mongod-27018.service is active but nothing serves port 27018 on 10.97.1.11'],
    ],
    [
      'a unit is not installed',
      async () => {
        inside.units.delete('db:mongod-27019.service');
        inside.files.delete('db:/etc/systemd/system/mongod-27019.service');
      },
      ['db: mongod-27019.service is not installed'],
    ],
    [
      'the proxy is removed',
      () => t.incus('config', 'device', 'remove', 'web', 'expose-3000'),
      ['web: proxy tcp:127.0.0.1:3000 is missing'],
    ],
    [
      'the proxy listens elsewhere',
      () => t.incus('config', 'device', 'set', 'web', 'expose-3000', 'listen=tcp:127.0.0.1:3999'),
      ['web: proxy tcp:127.0.0.1:3000 is missing'],
    ],
    [
      'the proxy connects elsewhere',
      () => t.incus('config', 'device', 'set', 'web', 'expose-3000', 'connect=tcp:127.0.0.1:8080'),
      ['web: proxy tcp:127.0.0.1:3000 is missing'],
    ],
    [
      'a service is unhealthy',
      async () => void answers.set('http://10.97.1.10:3000/health', 500),
      ['service web-server: /health answered 500'],
    ],
    [
      'a service is unreachable',
      async () => void answers.delete('http://10.97.1.10:5000/health'),
      ['service auth-server: /health unreachable (ECONNREFUSED)'],
    ],
    [
      'a service is not ready',
      async () => void answers.set('http://10.97.1.10:3000/ready', 503),
      ['service web-server: not ready (answered 503)'],
    ],
    [
      'a replica set does not answer',
      async () => ['10.97.1.11:27017', '10.97.1.11:27018'].forEach((host) => mongo.down.add(host)),
      ['replica set rsA unreachable: 10.97.1.11:27017: connect ECONNREFUSED; 10.97.1.11:27018: connect ECONNREFUSED'],
    ],
    [
      'a replica set has no primary',
      async () => void mongo.states.set('10.97.1.11:27017', 'SECONDARY'),
      ['replica set rsA has no PRIMARY'],
    ],
    [
      'a member is not PRIMARY or SECONDARY',
      async () => void mongo.states.set('10.97.1.11:27018', 'RECOVERING'),
      ['replica set rsA: 10.97.1.11:27018 is RECOVERING'],
    ],
    [
      'a standalone does not answer',
      async () => void mongo.down.add('10.97.1.11:27019'),
      ['database users (10.97.1.11:27019) unreachable: 10.97.1.11:27019: connect ECONNREFUSED'],
    ],
  ])('exits 1 when %s, naming exactly that difference', async (_what, drift, expected) => {
    await drift();
    const result = await status();
    expect(differences(result)).toEqual(expected);
    expect(result.exitCode).toBe(1);
    expect(result.human).toContain(`1 difference from the topology:\n  - ${expected[0]}`);
  });

  it('exits 1 when nothing exists, naming the bridge and every container', async () => {
    for (const name of ['web', 'db']) await t.incus('delete', '--force', name);
    await t.model.incus(['network', 'delete', 'dmodelst0']);
    const result = await status();
    expect(differences(result)).toEqual([
      'network dmodelst0 does not exist',
      'container web is missing',
      'container db is missing',
    ]);
    expect(result.exitCode).toBe(1);
  });
});

describe('status --watch', () => {
  const watch = (overrides: Partial<Parameters<typeof statusCommand>[0]>) =>
    statusCommand({
      file: t.file,
      client: t.client(),
      ui: t.ui,
      stateDirFor: t.stateDirFor,
      watchSeconds: 0.01,
      write: () => undefined,
      mongo,
      fetch: fakeFetch,
      ...overrides,
    });

  it('refuses --format prometheus with --watch before asking Incus anything', async () => {
    const calls = t.model.calls.length;
    const error = await watch({ format: 'prometheus' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STATUS_FORMAT_WATCH' });
    expect((error as Error).message).toBe('--format prometheus prints one snapshot; it does not combine with --watch');
    expect(t.model.calls.length).toBe(calls);
  });

  it('writes a cleared screen with the report and the refresh line each round, reads Incus again, stops when told', async () => {
    const writes: string[] = [];
    let stop = (): void => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const ui = { ...t.ui, clearScreen: '<clear>' };
    const rounds: number[] = [];
    const result = await watch({
      ui,
      stopped,
      write: (text) => {
        writes.push(text);
        rounds.push(t.model.calls.filter((call) => call.join(' ').includes('list')).length);
        if (writes.length === 2) stop();
      },
    });
    expect(writes).toHaveLength(2);
    for (const text of writes) {
      expect(text.startsWith('<clear>')).toBe(true);
      expect(text).toContain('Everything is as declared.');
      expect(text.endsWith('\n(refreshing every 0.01 s; Ctrl-C to stop)\n')).toBe(true);
    }
    // The second round is a new observation, not the first one printed again.
    expect(rounds[1]).toBeGreaterThan(rounds[0] ?? Number.POSITIVE_INFINITY);
    expect(result.exitCode).toBe(0);
  });

  it('with --json, writes one envelope per round', async () => {
    const writes: string[] = [];
    let stop = (): void => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    await watch({
      ui: { ...t.ui, json: true },
      stopped,
      write: (text) => {
        writes.push(text);
        stop();
      },
    });
    expect(writes).toHaveLength(1);
    const envelope = JSON.parse(writes[0] ?? '') as { ok: boolean; differences: string[]; errors: unknown[] };
    expect(writes[0]?.endsWith('}\n')).toBe(true);
    expect(envelope).toMatchObject({ ok: true, differences: [], errors: [] });
  });
});
