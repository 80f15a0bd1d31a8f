// `distctl status` of a deployment on a three-member cluster (the in-memory model): each container's member,
// each member's state, an offline member as its own state, and placement drift as a difference.
import type { Document } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyPlan } from '../../../src/apply/index.js';
import { statusCommand } from '../../../src/commands/status.js';
import type { MongoAdmin, MongoTarget } from '../../../src/mongo/admin.js';
import { FakeContainers } from '../deploy/fake-container.js';
import { testDeployment, type TestDeployment } from '../support/deployment.js';

const TOPOLOGY = `
version: 1
project: model-cluster
incus: { remote: cl }
image: debian12-distctl
network: { name: dclst0, subnet: 10.97.2.0/24, gateway: 10.97.2.1, tunnel: { id: 97 } }
containers:
  - { name: db1, ipv4: 10.97.2.11 }
  - { name: db2, ipv4: 10.97.2.12 }
  - { name: db3, ipv4: 10.97.2.13 }
mongodb:
  source: image
  replicaSets:
    - name: rsA
      database: products_db
      env: DB1_URL
      spread: true
      members:
        - { container: db1, port: 27017, priority: 2 }
        - { container: db2, port: 27017, priority: 1 }
        - { container: db3, port: 27017, priority: 1 }
`;

/** replSetGetStatus as the set's members see it. */
class ScriptedMongo implements MongoAdmin {
  readonly states = new Map<string, string>([
    ['10.97.2.11:27017', 'PRIMARY'],
    ['10.97.2.12:27017', 'SECONDARY'],
    ['10.97.2.13:27017', 'SECONDARY'],
  ]);
  async command(_target: MongoTarget, _db: string, cmd: Document): Promise<Document> {
    if (!('replSetGetStatus' in cmd)) throw new Error(`ScriptedMongo: status never sends ${JSON.stringify(cmd)}`);
    const members = [...this.states].map(([name, stateStr]) => ({
      name,
      stateStr,
      health: 1,
      optimeDate: new Date(1),
    }));
    return { ok: 1, members };
  }
  async close(): Promise<void> {}
}

let t: TestDeployment;
let mongo: ScriptedMongo;

const status = () =>
  statusCommand({
    file: t.file,
    client: t.client(),
    ui: t.ui,
    stateDirFor: t.stateDirFor,
    watchSeconds: null,
    write: () => undefined,
    mongo,
  });

interface StatusJson {
  differences: string[];
  cluster: { name: string; state: string; message: string }[] | null;
  containers: { name: string; state: string; member: { name: string; state: string | null } | null }[];
}
const json = (result: Awaited<ReturnType<typeof status>>) => result.json as StatusJson;

beforeEach(async () => {
  t = await testDeployment(TOPOLOGY, { remote: 'cl', members: ['m1', 'm2', 'm3'] });
  const inside = new FakeContainers(() => 'sha');
  t.model.inside = inside;
  mongo = new ScriptedMongo();
  const plan = await t.replan();
  expect(plan.conflicts).toEqual([]);
  await applyPlan(t.client(), plan);
  for (const container of (await t.desired()).containers) {
    for (const unit of container.units) {
      await inside.writeFile(container.name, `/etc/systemd/system/${unit.name}`, '[Unit]\n');
      await inside.exec(container.name, ['systemctl', 'start', unit.name]);
    }
  }
});

afterEach(async () => {
  await t.cleanup();
});

describe('status on a cluster', () => {
  it("shows each container's member and each member's state; exit 0 when all is as placed", async () => {
    const result = await status();
    expect(json(result).differences).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(json(result).cluster).toEqual(
      ['m1', 'm2', 'm3'].map((name) => ({ name, state: 'Online', message: 'Fully operational' })),
    );
    expect(json(result).containers.map((container) => [container.name, container.member])).toEqual([
      ['db1', { name: 'm1', state: 'Online' }],
      ['db2', { name: 'm2', state: 'Online' }],
      ['db3', { name: 'm3', state: 'Online' }],
    ]);
    const lines = result.human.split('\n');
    expect(lines.slice(4, 9)).toEqual([
      'cluster members',
      'MEMBER  STATE   MESSAGE',
      'm1      Online  Fully operational',
      'm2      Online  Fully operational',
      'm3      Online  Fully operational',
    ]);
    expect(lines.find((line) => line.startsWith('NAME'))).toMatch(/^NAME {2}STATE {4}MEMBER {2}DECLARED IP/);
    expect(lines.find((line) => line.startsWith('db2'))).toMatch(/^db2 {3}running {2}m2 {6}10\.97\.2\.12/);
  });

  it('an offline member is its own state, and its container is unreachable, not an error', async () => {
    t.model.setMemberStatus('m2', 'Offline');
    mongo.states.set('10.97.2.12:27017', '(not reachable/healthy)');
    const result = await status();
    expect(result.exitCode).toBe(1);
    expect(json(result).differences).toEqual([
      'cluster member m2 is Offline: No heartbeat for 1m0s (2026-11-28 12:00:00 +0000 UTC)',
      'container db2 is unreachable: its cluster member m2 is Offline',
      'replica set rsA: 10.97.2.12:27017 is (not reachable/healthy)',
    ]);
    expect(json(result).containers[1]).toMatchObject({
      name: 'db2',
      state: 'Error',
      member: { name: 'm2', state: 'Offline' },
    });
    expect(result.human.split('\n').find((line) => line.startsWith('db2'))).toMatch(
      /^db2 {3}unreachable \(member m2 Offline\) {2}m2 /,
    );
  });

  it('reports placement drift as a difference, with what to run', async () => {
    t.model.moveInstance('model-cluster', 'db3', 'm1');
    const result = await status();
    expect(result.exitCode).toBe(1);
    expect(json(result).differences).toEqual([
      'container db3 runs on member m1, but belongs on m3 (spread of rsA); distctl does not move containers: ' +
        '`distctl undrain m3` after a drain, or `incus stop cl:db3 --project model-cluster && ' +
        'incus move cl:db3 --target m3 --project model-cluster && incus start cl:db3 --project model-cluster`',
    ]);
  });
});
