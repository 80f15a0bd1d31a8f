import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { loadDeployment } from '../../../src/commands/context.js';
import { EXIT_PLAN_CHANGES, planCommand } from '../../../src/commands/plan.js';
import { recipeAlias } from '../../../src/image/recipe.js';
import { IncusClient } from '../../../src/incus/client.js';
import type { MongoAdmin } from '../../../src/mongo/admin.js';
import { CHECK_SCRIPT } from '../../../src/mongo/check.js';
import { mongodFiles } from '../../../src/mongo/units.js';
import { planStages } from '../../../src/plan/stages.js';
import { openSecretStore, SecretStore } from '../../../src/secrets/store.js';
import { ScriptedRunner } from '../support/scripted-runner.js';
import { FakeOps } from '../mongo/fake-ops.js';
import { convergedState, ownedNetwork, referenceDesired } from '../plan/fixtures.js';

const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
const reference = join(import.meta.dirname, '../../../topology.yaml');
const desired = referenceDesired();
const alias = recipeAlias({ distro: 'debian', suite: 'bookworm' });

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'distctl-plan-'));
});
afterEach(async () => {
  vi.unstubAllGlobals();
  await rm(root, { recursive: true, force: true });
});

/** incus answering the reads plan makes; any other call (exec, create, a write) fails the test. */
function incus(state: {
  projects?: readonly unknown[];
  networks?: readonly unknown[];
  instances?: readonly unknown[];
  images?: readonly string[];
}) {
  return new ScriptedRunner((cmd) => {
    const line = cmd.args.join(' ');
    if (line === 'project list --format json') return { stdout: JSON.stringify(state.projects ?? []) };
    if (line === 'network list --format json') return { stdout: JSON.stringify(state.networks ?? []) };
    if (line.endsWith(' list --format json') && cmd.args[0] === '--project')
      return { stdout: JSON.stringify(state.instances ?? []) };
    const aliasQuery = /^query \/1\.0\/images\/aliases\/(\S+)\?project=default$/.exec(line);
    if (aliasQuery)
      return (state.images ?? []).includes(aliasQuery[1]!)
        ? { stdout: '{"target":"ff"}' }
        : { exitCode: 1, stderr: 'Error: not found' };
    return undefined;
  });
}

async function plan(runner: ScriptedRunner, file = reference, detailedExitCode = true) {
  const fetchSpy = vi.fn(() => Promise.reject(new Error('no traffic expected')));
  vi.stubGlobal('fetch', fetchSpy);
  const result = await planCommand({
    file,
    prune: false,
    showCalls: false,
    detailedExitCode,
    client: new IncusClient(runner),
    ui,
    stateDirFor: (project) => join(root, 'state', project),
  });
  expect(fetchSpy).not.toHaveBeenCalled();
  expect(existsSync(join(root, 'state'))).toBe(false);
  return result;
}

describe('distctl plan shows everything up would do', () => {
  it('on a fresh host: the image to build, Incus, and the databases and services stages; --detailed-exitcode gives 2', async () => {
    const runner = incus({});
    const result = await plan(runner);
    expect(result.exitCode).toBe(EXIT_PLAN_CHANGES);
    expect(EXIT_PLAN_CHANGES).toBe(2);
    const lines = result.human.split('\n');
    expect(lines[0]).toBe('project distctl: not deployed — `distctl up` creates everything below.');
    expect(lines[1]).toBe(
      `+ image ${alias} (build debian/bookworm with debootstrap, for auth-server, web-server, db1, db2, db3)`,
    );
    const databases = lines.slice(lines.indexOf('databases') + 1, lines.indexOf('services'));
    expect(databases).toEqual([
      "+ db1: install MongoDB 7.0 from MongoDB's apt repository",
      '+ db1: write the keyfile, 3 configs and 3 units; start mongod-27017.service, mongod-27018.service, mongod-27019.service',
      "+ db2: install MongoDB 7.0 from MongoDB's apt repository",
      '+ db2: write the keyfile, 3 configs and 3 units; start mongod-27017.service, mongod-27018.service, mongod-27019.service',
      "+ db3: install MongoDB 7.0 from MongoDB's apt repository",
      '+ db3: write 1 config and 1 unit; start mongod-27017.service',
      '+ replica set rsA: initiate with 10.10.10.12:27017 (priority 3), 10.10.10.12:27018 (priority 2), 10.10.10.12:27019 (priority 1); create the admin user',
      '+ replica set rsB: initiate with 10.10.10.13:27017 (priority 3), 10.10.10.13:27018 (priority 2), 10.10.10.13:27019 (priority 1); create the admin user',
      '+ MongoDB users: admin user in every set and standalone, and a user per service (auth-server, web-server), with new passwords',
    ]);
    const services = lines.slice(lines.indexOf('services') + 1, -1);
    expect(services).toEqual([
      '+ auth-server on auth-server: write /usr/local/bin/node, /opt/distctl/auth-server/main.mjs, /etc/distctl/auth-server.env, /etc/systemd/system/auth-server.service; start auth-server.service',
      '+ web-server on web-server: write /usr/local/bin/node, /opt/distctl/web-server/main.mjs, /etc/distctl/web-server.env, /etc/systemd/system/web-server.service; start web-server.service',
    ]);
    expect(lines.at(-1)).toBe(
      'Plan: 30 changes (18 in Incus, 1 image, 11 in the databases and services) in project distctl.',
    );
    // Only reads: project, networks, instances (asked at once), the alias of the image to build. Nothing is sent
    // into (absent) containers.
    expect(runner.lines()).toEqual([
      'incus project list --format json',
      'incus network list --format json',
      'incus --project distctl list --format json',
      `incus query /1.0/images/aliases/${alias}?project=default`,
    ]);
  });

  it('ends with a blocking summary when something distctl does not own is in the way, and exits 1 even with --detailed-exitcode', async () => {
    const result = await plan(
      incus({ networks: [{ ...ownedNetwork(desired), config: { 'ipv4.address': '10.10.10.1/24' } }], images: [alias] }),
    );
    expect(result.exitCode).toBe(1);
    const lines = result.human.split('\n');
    expect(lines.slice(-3)).toEqual([
      'Plan blocked: 1 conflict with what exists in Incus; `up` would change nothing until it is resolved:',
      '  ! network "incusbr0" exists but was not created by distctl',
      '    Give network.name in topology.yaml a name no other network uses (e.g. distbr0).',
    ]);
    expect(result.json).toMatchObject({ blocked: true });
  });

  it('exits 0 with --detailed-exitcode when nothing would change', async () => {
    const file = join(root, 'bare.yaml');
    await writeFile(
      file,
      'version: 1\nproject: bare\nimage: debian12-distctl\nnetwork: { name: dbare0, subnet: 10.94.0.0/24, gateway: 10.94.0.1 }\ncontainers:\n  - { name: only, ipv4: 10.94.0.10 }\n',
    );
    const bare = (await loadDeployment(file)).desired;
    const converged = convergedState(bare);
    const result = await plan(
      incus({ projects: [converged.project], networks: converged.networks, instances: converged.instances }),
      file,
    );
    expect(result.human).toBe('No changes: everything matches the topology.');
    expect(result.exitCode).toBe(0);
  });
});

describe('planStages on running containers', () => {
  it('lists only what differs: a changed config, its restart, a stopped unit; nothing for an initiated set', async () => {
    const dir = join(root, 'secrets');
    const store = await openSecretStore(dir);
    const keyFile = await store.get('mongodb-keyfile');
    await store.get('mongodb-admin-password');
    const db1 = desired.replicaSets[0]!.members;
    const files = await mongodFiles(db1, keyFile, { mongodBin: '/usr/bin/mongod', version: '7.0', cacheSizeGB: 1 });
    // The databases stage's one-exec check, as db1 answers it: mongod 7.0, the files' digests, 27019 stopped.
    const ops: FakeOps = new FakeOps((container, argv) => {
      if (container !== 'db1' || argv[2] !== CHECK_SCRIPT) return undefined;
      const digests = files.map(
        (file) =>
          `${createHash('sha256')
            .update(ops.files.get(`db1:${file.path}`) ?? '')
            .digest('hex')}  ${file.path}`,
      );
      const units = db1.map((member) => `${member.unitName} enabled ${member.port === 27019 ? 'inactive' : 'active'}`);
      return {
        stdout: ['@ids', '999', '999', '@dirs', '@memory', '@digests', ...digests, '@mongod', '/usr/bin/mongod']
          .concat(['db version v7.0.14', '@units', ...units])
          .join('\n'),
      };
    });
    for (const file of files)
      ops.files.set(`db1:${file.path}`, file.path.endsWith('27018.conf') ? 'old config' : file.content);
    const asked: string[] = [];
    const mongo: MongoAdmin = {
      command: (target) => {
        asked.push(target.host);
        return Promise.resolve({
          ok: 1,
          members: db1.map((member) => ({
            name: member.host,
            stateStr: member.port === 27017 ? 'PRIMARY' : 'SECONDARY',
            health: 1,
          })),
        });
      },
      close: () => Promise.resolve(),
    };
    const onlyDb1 = {
      ...desired,
      mongodb: { ...desired.mongodb, cacheSizeGB: 1 },
      replicaSets: [desired.replicaSets[0]!],
      standalones: [],
      services: [],
    };
    const changes = await planStages(onlyDb1, {
      ops,
      secrets: SecretStore.openReadOnly(dir),
      mongo,
      running: new Set(['db1']),
    });
    expect(changes.map((change) => `${change.sign} ${change.subject}: ${change.change}`)).toEqual([
      '~ db1: write /etc/mongod-27018.conf',
      '~ db1: restart mongod-27018.service',
      '~ db1: start mongod-27019.service',
    ]);
    expect(ops.calls.map((call) => [call.kind, call.container, call.kind === 'exec' ? call.argv[2] : ''])).toEqual([
      ['exec', 'db1', CHECK_SCRIPT],
    ]);
    expect(asked.length).toBeGreaterThan(0);
  });
});
