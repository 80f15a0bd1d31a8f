// What `distctl plan` lists for the databases and services stages of running containers: exact lines, compared
// with what a converged container reports (the services stage after a real deploy into FakeContainers).
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadDeployment } from '../../../src/commands/context.js';
import type { DesiredState } from '../../../src/derive/types.js';
import { renderMarker } from '../../../src/deploy/artifacts.js';
import { deployServices } from '../../../src/deploy/index.js';
import { hostNode } from '../../../src/deploy/node-runtime.js';
import type { MongoAdmin } from '../../../src/mongo/admin.js';
import { CHECK_SCRIPT } from '../../../src/mongo/check.js';
import { KEYFILE_PATH, mongodFiles } from '../../../src/mongo/units.js';
import { planStages, type StageChange } from '../../../src/plan/stages.js';
import { SecretStore } from '../../../src/secrets/store.js';
import { FakeContainers } from '../deploy/fake-container.js';
import { FakeOps } from '../mongo/fake-ops.js';
import { servicesTopology } from '../support/topologies.js';

const GiB = 1024 ** 3;
let dir: string;
let sources: string;
let desired: DesiredState;
let secretsDir: string;
let nodeSha: string;

const lines = (changes: readonly StageChange[]): string[] =>
  changes.map((change) => `${change.stage} ${change.sign} ${change.subject}: ${change.change}`);

/** A set whose members all answer replSetGetStatus: initiated, so the databases stage adds no set line. */
const initiated: MongoAdmin = {
  command: () => Promise.resolve({ ok: 1, members: [] }),
  close: () => Promise.resolve(),
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-stages-'));
  sources = join(dir, 'services');
  await mkdir(join(sources, 'auth'), { recursive: true });
  await mkdir(join(sources, 'web'), { recursive: true });
  await writeFile(join(sources, 'auth', 'main.ts'), `console.log('auth service');\n`);
  await writeFile(join(dir, 'topology.yaml'), servicesTopology({ project: 'stg', bridge: 'stg0', subnet: '10.98.0' }));
  desired = (await loadDeployment(join(dir, 'topology.yaml'))).desired;
  secretsDir = join(dir, 'secrets');
  const store = await SecretStore.open(secretsDir);
  await store.get('mongodb-keyfile');
  await store.get('mongodb-admin-password');
  nodeSha = (await hostNode()).sha256;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('planStages: services on running containers', () => {
  let ops: FakeContainers;
  // The services need the databases in the desired state (their environment names them); db does not run here.
  const onlyServices = () => desired;
  const plan = async (state: DesiredState = onlyServices(), secrets = SecretStore.openReadOnly(secretsDir)) =>
    lines(
      await planStages(state, {
        ops,
        secrets,
        mongo: initiated,
        running: new Set(['auth', 'web']),
        servicesRoot: sources,
      }),
    ).filter((line) => line.startsWith('services '));

  beforeEach(async () => {
    await writeFile(join(sources, 'web', 'main.ts'), `console.log('web service v1');\n`);
    ops = new FakeContainers(() => nodeSha);
    await deployServices({
      desired,
      ops,
      secrets: await SecretStore.open(secretsDir),
      sourceRoot: sources,
      fetch: async () => new Response('{"status":"ok"}', { status: 200 }),
      healthTimeoutMs: 5_000,
      healthSettleMs: 0,
    });
    ops.calls.length = 0;
  });

  it('a converged deployment: no services line, one probe per container and nothing written', async () => {
    const all = await planStages(desired, {
      ops,
      secrets: SecretStore.openReadOnly(secretsDir),
      mongo: initiated,
      running: new Set(['auth', 'web']),
      servicesRoot: sources,
    });
    const host = desired.replicaSets[0]!.members[0]!.host;
    // db does not run: it gets everything, and its set is initiated (no member to ask).
    expect(lines(all)).toEqual([
      'databases + db: install MongoDB 7.0 from the image',
      'databases + db: write the keyfile, 2 configs and 2 units; start mongod-27017.service, mongod-27019.service',
      `databases + replica set rsA: initiate with ${host} (priority 1); create the admin user`,
    ]);
    expect(ops.calls.map((call) => [call.kind, call.container])).toEqual([
      ['exec', 'auth'],
      ['exec', 'web'],
    ]);
  });

  it('a changed service source: its bundle is written and the unit restarted', async () => {
    await writeFile(join(sources, 'web', 'main.ts'), `console.log('web service v2');\n`);
    expect(await plan()).toEqual([
      'services ~ web-server on web: write /opt/distctl/web-server/main.mjs; restart web-server.service',
    ]);
  });

  it('a changed bundle on a container with another Node: the Node binary comes first', async () => {
    await writeFile(join(sources, 'web', 'main.ts'), `console.log('web service v2');\n`);
    ops.files.set('web:/usr/local/bin/node', 'binary');
    expect(await plan()).toEqual([
      'services ~ web-server on web: write /usr/local/bin/node, /opt/distctl/web-server/main.mjs; ' +
        'restart web-server.service',
    ]);
  });

  it('a changed environment (another port): only the environment file', async () => {
    const services = desired.services.map((service) =>
      service.name === 'auth-server' ? { ...service, port: 5001, env: { ...service.env, PORT: '5001' } } : service,
    );
    expect(await plan({ ...desired, services })).toEqual([
      'services ~ auth-server on auth: write /etc/distctl/auth-server.env; restart auth-server.service',
    ]);
  });

  it('a changed unit and environment: both files, environment first', async () => {
    const services = desired.services.map((service) =>
      service.name === 'web-server' ? { ...service, after: [], env: { ...service.env, PORT: '3001' } } : service,
    );
    expect(await plan({ ...desired, services })).toEqual([
      'services ~ web-server on web: write /etc/distctl/web-server.env, /etc/systemd/system/web-server.service; ' +
        'restart web-server.service',
    ]);
  });

  it('a service never deployed (no marker): every file, signed +', async () => {
    ops.files.delete('auth:/opt/distctl/auth-server/.deployed');
    expect(await plan()).toEqual([
      'services + auth-server on auth: write /opt/distctl/auth-server/main.mjs, /etc/distctl/auth-server.env, ' +
        '/etc/systemd/system/auth-server.service; restart auth-server.service',
    ]);
  });

  it('a marker deployed with another Node on a container now holding the host Node: only the marker', async () => {
    const marker = JSON.parse(ops.files.get('web:/opt/distctl/web-server/.deployed')!) as Record<string, string>;
    ops.files.set(
      'web:/opt/distctl/web-server/.deployed',
      renderMarker({ bundle: marker.bundle!, unit: marker.unit!, env: marker.env!, node: 'f'.repeat(64) }),
    );
    expect(await plan()).toEqual(['services ~ web-server on web: write its marker; restart web-server.service']);
  });

  it('a marker deployed with another Node, and another Node in the container: the Node binary only', async () => {
    const marker = JSON.parse(ops.files.get('web:/opt/distctl/web-server/.deployed')!) as Record<string, string>;
    ops.files.set(
      'web:/opt/distctl/web-server/.deployed',
      renderMarker({ bundle: marker.bundle!, unit: marker.unit!, env: marker.env!, node: 'f'.repeat(64) }),
    );
    ops.files.set('web:/usr/local/bin/node', 'binary');
    expect(await plan()).toEqual([
      'services ~ web-server on web: write /usr/local/bin/node; restart web-server.service',
    ]);
  });

  it('a secret never generated: the environment file is new', async () => {
    const empty = join(dir, 'no-secrets');
    await SecretStore.open(empty);
    expect(await plan(onlyServices(), SecretStore.openReadOnly(empty))).toEqual([
      'services ~ auth-server on auth: write /etc/distctl/auth-server.env; restart auth-server.service',
      'services ~ web-server on web: write /etc/distctl/web-server.env; restart web-server.service',
    ]);
  });

  it('a stopped unit, unchanged: start, not restart', async () => {
    ops.unit('web', 'web-server.service').active = 'failed';
    expect(await plan()).toEqual(['services ~ web-server on web: start web-server.service']);
  });

  it('a container not running yet: Node, bundle, environment and unit, then start', async () => {
    const changes = await planStages(onlyServices(), {
      ops,
      secrets: SecretStore.openReadOnly(secretsDir),
      mongo: initiated,
      running: new Set(['auth']),
      servicesRoot: sources,
    });
    expect(lines(changes).filter((line) => line.startsWith('services '))).toEqual([
      'services + web-server on web: write /usr/local/bin/node, /opt/distctl/web-server/main.mjs, ' +
        '/etc/distctl/web-server.env, /etc/systemd/system/web-server.service; start web-server.service',
    ]);
    expect(ops.calls.map((call) => call.container)).toEqual(['auth']);
  });
});

describe('planStages: databases on a running container', () => {
  interface Db {
    mongod?: string[];
    memory?: string[];
    /** Files as they are in the container (path → content); defaults to the wanted ones. */
    files?: Map<string, string>;
    inactive?: string[];
  }
  /** The wanted files for `db`'s two mongods, rendered as up would with this binary and cache size. */
  const wanted = async (mongodBin = '/usr/bin/mongod', cacheSizeGB = 0.75) => {
    const keyFile = await SecretStore.openReadOnly(secretsDir).peek('mongodb-keyfile');
    const db = [...desired.replicaSets.flatMap((set) => set.members), ...desired.standalones.map((s) => s.process)];
    const files = await mongodFiles(db, keyFile!, { mongodBin, version: '7.0', cacheSizeGB });
    return new Map(files.map((file) => [file.path, file.content]));
  };
  /** ops answering the databases check (CHECK_SCRIPT) for `db`, and the memory probe with 4 GiB. */
  const opsFor = (state: Required<Db>) =>
    new FakeOps((container, argv) => {
      if (container !== 'db') return undefined;
      if (argv[2] === CHECK_SCRIPT) {
        const digests = [...state.files].map(
          ([path, content]) => `${createHash('sha256').update(content).digest('hex')}  ${path}`,
        );
        const units = ['mongod-27017.service', 'mongod-27019.service'].map(
          (unit) => `${unit} enabled ${state.inactive.includes(unit) ? 'inactive' : 'active'}`,
        );
        const out = ['@ids', '999', '999', '@dirs', '@memory', ...state.memory, '@digests', ...digests];
        return { stdout: [...out, '@mongod', ...state.mongod, '@units', ...units].join('\n') };
      }
      if (argv[2]?.includes('memory.max')) return { stdout: `max\nMemTotal:       ${4 * 1024 * 1024} kB\n` };
      return undefined;
    });
  const plan = async (db: Db = {}, state: DesiredState = { ...desired, services: [] }, mongo = initiated) => {
    const ops = opsFor({
      mongod: db.mongod ?? ['/usr/bin/mongod', 'db version v7.0.14'],
      memory: db.memory ?? [String(4 * GiB)],
      files: db.files ?? (await wanted()),
      inactive: db.inactive ?? [],
    });
    const changes = await planStages(state, {
      ops,
      secrets: SecretStore.openReadOnly(secretsDir),
      mongo,
      running: new Set(['db']),
    });
    return { lines: lines(changes), execs: ops.calls.map((call) => (call.kind === 'exec' ? call.argv[2] : '')) };
  };

  it('a converged container: no line, one exec (the memory came with the check)', async () => {
    expect(await plan()).toEqual({ lines: [], execs: [CHECK_SCRIPT] });
  });

  it('memory unreadable in the check: read again on its own, then compared', async () => {
    const result = await plan({ memory: [] });
    expect(result.lines).toEqual([]);
    expect(result.execs).toEqual([CHECK_SCRIPT, expect.stringContaining('memory.max')]);
  });

  it('more memory than the configs were sized for: both configs written, both mongods restarted', async () => {
    expect((await plan({ memory: [String(8 * GiB)] })).lines).toEqual([
      'databases ~ db: write /etc/mongod-27017.conf, /etc/mongod-27019.conf',
      'databases ~ db: restart mongod-27017.service, mongod-27019.service',
    ]);
  });

  it('a fixed cacheSizeGB in the topology wins over the memory', async () => {
    const fixed = { ...desired, services: [], mongodb: { ...desired.mongodb, cacheSizeGB: 1 } };
    expect((await plan({ files: await wanted('/usr/bin/mongod', 1) }, fixed)).lines).toEqual([]);
    expect((await plan({}, fixed)).lines).toEqual([
      'databases ~ db: write /etc/mongod-27017.conf, /etc/mongod-27019.conf',
      'databases ~ db: restart mongod-27017.service, mongod-27019.service',
    ]);
  });

  it('no mongod: install from the source, nothing "had"', async () => {
    expect((await plan({ mongod: [] })).lines).toEqual(['databases + db: install MongoDB 7.0 from the image']);
  });

  it('an older mongod elsewhere: install, saying what it has; the units then name the expected binary', async () => {
    const files = await wanted('/opt/mongo/bin/mongod');
    expect((await plan({ mongod: ['/opt/mongo/bin/mongod', 'db version v6.0.5'], files })).lines).toEqual([
      'databases + db: install MongoDB 7.0 from the image (has 6.0.5)',
      'databases ~ db: write /etc/systemd/system/mongod-27017.service, /etc/systemd/system/mongod-27019.service',
      'databases ~ db: restart mongod-27017.service, mongod-27019.service',
    ]);
  });

  it('the right version elsewhere: that binary is kept', async () => {
    const files = await wanted('/opt/mongo/bin/mongod');
    expect((await plan({ mongod: ['/opt/mongo/bin/mongod', 'db version v7.0.2'], files })).lines).toEqual([]);
  });

  it('a changed config and stopped units: write and restart that one, start the other, not both', async () => {
    const files = await wanted();
    files.set('/etc/mongod-27019.conf', 'old config');
    const inactive = ['mongod-27017.service', 'mongod-27019.service'];
    expect((await plan({ files, inactive })).lines).toEqual([
      'databases ~ db: write /etc/mongod-27019.conf',
      'databases ~ db: restart mongod-27019.service',
      'databases ~ db: start mongod-27017.service',
    ]);
  });

  it('both units stopped, nothing changed: both started, in one line', async () => {
    const inactive = ['mongod-27017.service', 'mongod-27019.service'];
    expect((await plan({ inactive })).lines).toEqual([
      'databases ~ db: start mongod-27017.service, mongod-27019.service',
    ]);
  });

  it('a missing keyfile: written, and only the member restarted', async () => {
    const files = await wanted();
    files.delete(KEYFILE_PATH);
    expect((await plan({ files })).lines).toEqual([
      `databases ~ db: write ${KEYFILE_PATH}`,
      'databases ~ db: restart mongod-27017.service',
    ]);
  });

  it('a set whose members do not answer: initiate, unless they say otherwise once reachable', async () => {
    const unreachable: MongoAdmin = {
      command: () => Promise.reject(new Error('connect ECONNREFUSED')),
      close: () => Promise.resolve(),
    };
    const host = desired.replicaSets[0]!.members[0]!.host;
    expect((await plan({}, { ...desired, services: [] }, unreachable)).lines).toEqual([
      `databases + replica set rsA: initiate with ${host} (priority 1); ` +
        'create the admin user unless its mongods, unreachable now, say it is initiated',
    ]);
  });
});

describe('planStages: databases in containers not running yet', () => {
  const plan = async (state: DesiredState, secrets = SecretStore.openReadOnly(secretsDir)) =>
    lines(await planStages(state, { ops: new FakeOps(), secrets, mongo: initiated, running: new Set() }));
  const source = (from: DesiredState['mongodb']['source']): DesiredState => ({
    ...desired,
    services: [],
    replicaSets: [],
    mongodb: { ...desired.mongodb, source: from },
  });

  it('a lone standalone from an archive: one config and one unit, no keyfile', async () => {
    expect(await plan(source({ kind: 'archive', path: '/srv/mongodb.tgz' }))).toEqual([
      'databases + db: install MongoDB 7.0 from the archive /srv/mongodb.tgz',
      'databases + db: write 1 config and 1 unit; start mongod-27019.service',
    ]);
  });

  it("from MongoDB's apt repository, with no credentials yet: the users line names the services", async () => {
    const empty = join(dir, 'no-secrets-db');
    await SecretStore.open(empty);
    const state = { ...source({ kind: 'repository' }), services: desired.services };
    expect(await plan(state, SecretStore.openReadOnly(empty))).toEqual([
      "databases + db: install MongoDB 7.0 from MongoDB's apt repository",
      'databases + db: write 1 config and 1 unit; start mongod-27019.service',
      'databases + MongoDB users: admin user in every set and standalone, and a user per service ' +
        '(auth-server, web-server), with new passwords',
      ...['auth', 'web'].map(
        (kind) =>
          `services + ${kind}-server on ${kind}: write /usr/local/bin/node, /opt/distctl/${kind}-server/main.mjs, ` +
          `/etc/distctl/${kind}-server.env, /etc/systemd/system/${kind}-server.service; start ${kind}-server.service`,
      ),
    ]);
    expect(await plan({ ...state, services: [] }, SecretStore.openReadOnly(empty))).toEqual([
      "databases + db: install MongoDB 7.0 from MongoDB's apt repository",
      'databases + db: write 1 config and 1 unit; start mongod-27019.service',
      'databases + MongoDB users: admin user in every set and standalone, and a user per service (none), ' +
        'with new passwords',
    ]);
  });
});
