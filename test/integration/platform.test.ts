// The end-to-end tier: the whole platform through the CLI on the live Incus
// daemon. The test image has no mongod and the topology says MongoDB comes with
// the image, so the database tier must fail with a clear message while the
// services are deployed and answer: health over the proxy, readiness naming
// every database as unreachable, login refused with 503 instead of hanging.
// Then: status, a no-op second up, a one-service code change through deploy,
// logs, and a down that leaves nothing behind. Own project, bridge and subnet;
// everything removed in afterAll even when a check fails.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  distctl,
  incus,
  incusJson,
  integrationSkipReason,
  removeTestResources,
  repoRoot,
  testImage,
  type CliRun,
} from './support.js';
import { portForServerWithoutPortZero as freePort } from '../support/ports.js';

const PROJECT = 'distctl-it-platform';
const BRIDGE = 'ditplat0';
const SUBNET = '10.231.9';
const AUTH_IP = `${SUBNET}.10`;
const UNITS = { auth: 'auth-server.service', web: 'web-server.service' } as const;

const skipReason = await integrationSkipReason('platform');
const dir = mkdtempSync(join(tmpdir(), 'distctl-it-platform-'));
// The patched copy of the services lives inside the checkout so its imports of express, mongodb, ... resolve from node_modules.
const patchedSources = join(repoRoot, 'tmp', `it-platform-${process.pid}`);
const env = { DISTCTL_STATE_DIR: join(dir, 'state') };

function writeTopology(webPort: number): string {
  const file = join(dir, 'topology.yaml');
  writeFileSync(
    file,
    `version: 1
project: ${PROJECT}
image: ${testImage}
network: { name: ${BRIDGE}, subnet: ${SUBNET}.0/24, gateway: ${SUBNET}.1 }
containers:
  - { name: auth, ipv4: ${AUTH_IP} }
  - { name: web, ipv4: ${SUBNET}.11 }
  - { name: db, ipv4: ${SUBNET}.12 }
mongodb:
  version: "7.0"
  source: image
  replicaSets:
    - { name: rsA, database: products_db, env: DB1_URL, members: [{ container: db, port: 27017 }] }
    - { name: rsB, database: products_db, env: DB2_URL, members: [{ container: db, port: 27018 }] }
  standalones:
    - { name: users, container: db, port: 27019, database: auth_db, env: DB3_URL }
sharding:
  defaultShard: rsA
  ranges:
    - { from: A, to: M, replicaSet: rsA }
    - { from: N, to: Z, replicaSet: rsB }
services:
  - { name: auth-server, kind: auth, container: auth, port: 5000, database: users }
  - { name: web-server, kind: web, container: web, port: 3000, auth: auth-server }
expose:
  - { container: web, port: 3000, listen: 127.0.0.1:${webPort} }
`,
  );
  return file;
}

/** MainPID and ActiveEnterTimestamp of a unit: both change exactly when systemd (re)starts it. */
async function unitIdentity(container: string, unit: string): Promise<{ pid: string; since: string }> {
  const out = await incus(
    'exec',
    container,
    '--project',
    PROJECT,
    '--',
    'systemctl',
    'show',
    unit,
    '-p',
    'MainPID',
    '-p',
    'ActiveEnterTimestamp',
  );
  const values = new Map(
    out
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const),
  );
  return { pid: values.get('MainPID') ?? '', since: values.get('ActiveEnterTimestamp') ?? '' };
}

interface Stage {
  stage: string;
  status: string;
  summary: string;
  error?: { code: string; message: string; hint: string | null };
}

/** Everything a run printed, for assertion messages. */
function transcript(run: CliRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

describe.skipIf(skipReason !== undefined)('the platform end to end through the CLI', () => {
  let file: string;
  let webUrl: string;
  let firstUp: CliRun;

  beforeAll(async () => {
    const leftovers = await removeTestResources(PROJECT, [BRIDGE]);
    if (leftovers.length > 0) throw new Error(`cannot clear leftovers of an earlier run:\n${leftovers.join('\n')}`);
    const webPort = await freePort();
    webUrl = `http://127.0.0.1:${webPort}`;
    file = writeTopology(webPort);
    firstUp = await distctl(['up', '-f', file, '--yes', '--json'], env);
  });

  afterAll(async () => {
    rmSync(patchedSources, { recursive: true, force: true });
    const problems = await removeTestResources(PROJECT, [BRIDGE]);
    rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`cleanup left resources behind:\n${problems.join('\n')}`);
  });

  it('up fails on the database tier only, saying where MongoDB must come from, with the services deployed', () => {
    expect(firstUp.code, transcript(firstUp)).not.toBe(0);
    const stages = (firstUp.json?.stages ?? []) as Stage[];
    expect(firstUp.json?.failedStages, transcript(firstUp)).toEqual(['databases']);
    const databases = stages.find((stage) => stage.stage === 'databases');
    expect(databases?.error?.code).toBe('MONGOD_NOT_IN_IMAGE');
    expect(databases?.error?.message).toMatch(/has no mongod.*mongodb\.source: image/);
    expect(databases?.error?.hint).toMatch(/mongodb\.source: repository|archive/);
    const services = stages.find((stage) => stage.stage === 'services');
    expect(services?.status, transcript(firstUp)).toBe('ok');
    expect(services?.summary).toBe('auth-server deployed and restarted; web-server deployed and restarted');
    // A user-facing failure, not a crash: no stack trace anywhere in the output.
    expect(`${firstUp.stdout}\n${firstUp.stderr}`).not.toMatch(/^\s+at .+\(.*:\d+:\d+\)$/m);
    expect(firstUp.stderr).not.toMatch(/internal error/);
  });

  it('rendered and installed every mongod unit and config before the database tier failed', async () => {
    for (const port of [27017, 27018, 27019]) {
      const unit = await incus(
        'exec',
        'db',
        '--project',
        PROJECT,
        '--',
        'cat',
        `/etc/systemd/system/mongod-${port}.service`,
      );
      expect(unit).toContain(`ExecStart=/usr/bin/mongod --config /etc/mongod-${port}.conf`);
      expect(unit).toContain('Restart=on-failure');
      const config = await incus('exec', 'db', '--project', PROJECT, '--', 'cat', `/etc/mongod-${port}.conf`);
      expect(config).toContain(`port: ${port}`);
      expect(config).toContain(`bindIp: ${SUBNET}.12,127.0.0.1`);
      const load = await incus(
        'exec',
        'db',
        '--project',
        PROJECT,
        '--',
        'systemctl',
        'show',
        '-p',
        'LoadState',
        '--value',
        `mongod-${port}.service`,
      );
      expect(load.trim()).toBe('loaded');
    }
    const keyfile = await incus(
      'exec',
      'db',
      '--project',
      PROJECT,
      '--',
      'stat',
      '-c',
      '%a %U',
      '/etc/mongodb-keyfile',
    );
    expect(keyfile.trim()).toBe('400 mongodb');
  });

  it('over the proxy on 127.0.0.1: /docs is served and /health is ok', async () => {
    const docs = await fetch(`${webUrl}/docs`, { signal: AbortSignal.timeout(10_000) });
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    expect(await docs.text()).toMatch(/<html/i);
    const health = await fetch(`${webUrl}/health`, { signal: AbortSignal.timeout(10_000) });
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('/ready names each database as unreachable: both shards on web, the users database on auth', async () => {
    const web = await fetch(`${webUrl}/ready`, { signal: AbortSignal.timeout(15_000) });
    expect(web.status).toBe(503);
    expect(await web.json()).toMatchObject({
      shards: { rsA: 'unreachable', rsB: 'unreachable' },
      authServer: 'reachable',
    });
    const auth = await fetch(`http://${AUTH_IP}:5000/ready`, { signal: AbortSignal.timeout(15_000) });
    expect(auth.status).toBe(503);
    expect(await auth.json()).toMatchObject({ database: 'unreachable' });
  });

  it('POST /auth/login answers 503 with a JSON error instead of hanging', async () => {
    const started = Date.now();
    const response = await fetch(`${webUrl}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'ana', password: 's3cret-pass' }),
      signal: AbortSignal.timeout(20_000),
    });
    expect(response.status).toBe(503);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('DATABASE_UNAVAILABLE');
    expect(body.error.message).toMatch(/unreachable|unavailable/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('status --json reports the service units active and healthy, and the databases down', async () => {
    const status = await distctl(['status', '-f', file, '--json'], env);
    expect(status.code, transcript(status)).not.toBe(0);
    const json = status.json as {
      containers: { name: string; units: { name: string; active: string }[] }[];
      services: { name: string; health: { ok: boolean }; ready: { ok: boolean } }[];
      databases: {
        replicaSets: { name: string; reachable: boolean }[];
        standalones: { name: string; reachable: boolean }[];
      };
    };
    const unit = (container: string, name: string) =>
      json.containers.find((entry) => entry.name === container)?.units.find((entry) => entry.name === name);
    expect(unit('auth', UNITS.auth)?.active, transcript(status)).toBe('active');
    expect(unit('web', UNITS.web)?.active).toBe('active');
    expect(unit('db', 'mongod-27017.service')?.active).not.toBe('active');
    expect(json.services.map((service) => [service.name, service.health.ok, service.ready.ok])).toEqual([
      ['auth-server', true, false],
      ['web-server', true, false],
    ]);
    expect(json.databases.replicaSets.map((set) => [set.name, set.reachable])).toEqual([
      ['rsA', false],
      ['rsB', false],
    ]);
    expect(json.databases.standalones.map((standalone) => [standalone.name, standalone.reachable])).toEqual([
      ['users', false],
    ]);
  });

  it('failover-test refuses clearly while the replica sets are down, and stops nothing', async () => {
    const run = await distctl(['failover-test', '-f', file], env);
    expect(run.code, transcript(run)).toBe(1);
    expect(run.stderr).toMatch(/^error: replica set rsA is unreachable: /m);
    expect(run.stderr).toContain('hint: Run `distctl status` and `distctl up` until the set is healthy');
    expect(run.stderr).not.toMatch(/^\s+at .+\(.*:\d+:\d+\)$/m);
  });

  it('a second up restarts nothing', async () => {
    const before = { auth: await unitIdentity('auth', UNITS.auth), web: await unitIdentity('web', UNITS.web) };
    const second = await distctl(['up', '-f', file, '--yes', '--json'], env);
    expect(second.json?.failedStages, transcript(second)).toEqual(['databases']);
    expect(((second.json?.stages ?? []) as Stage[]).find((stage) => stage.stage === 'services')?.summary).toBe(
      'auth-server unchanged; web-server unchanged',
    );
    expect({ auth: await unitIdentity('auth', UNITS.auth), web: await unitIdentity('web', UNITS.web) }).toEqual(before);
  });

  it('a code change to one service, then deploy, restarts only that service', async () => {
    mkdirSync(patchedSources, { recursive: true });
    // The services import the shared errors and derived types from outside src/services; copy the same layout.
    for (const part of ['services', 'errors', 'derive'])
      cpSync(join(repoRoot, 'src', part), join(patchedSources, part), { recursive: true });
    const webMain = join(patchedSources, 'services', 'web', 'main.ts');
    const original = readFileSync(webMain, 'utf8');
    const patched = original.replace('web-server listening on', 'web-server (patched build) listening on');
    expect(patched).not.toBe(original);
    writeFileSync(webMain, patched);

    const before = { auth: await unitIdentity('auth', UNITS.auth), web: await unitIdentity('web', UNITS.web) };
    const deploy = await distctl(
      ['deploy', '-f', file, '--services-src', join(patchedSources, 'services'), '--json'],
      env,
    );
    expect(deploy.code, transcript(deploy)).toBe(0);
    expect(deploy.json?.changed).toEqual(['web-server']);
    const after = { auth: await unitIdentity('auth', UNITS.auth), web: await unitIdentity('web', UNITS.web) };
    expect(after.auth).toEqual(before.auth);
    expect(after.web.pid).not.toBe(before.web.pid);

    const logs = await distctl(['logs', 'web', '--file', file, '-n', '20'], env);
    expect(logs.code, transcript(logs)).toBe(0);
    expect(logs.stdout).toContain('web-server (patched build) listening on');
  });

  it('down --yes leaves no project, network or instance behind', async () => {
    const down = await distctl(['down', '-f', file, '--yes', '--json'], env);
    expect(down.code, transcript(down)).toBe(0);
    const projects = (await incusJson<{ name: string }[]>('project', 'list')).map((project) => project.name);
    const networks = (await incusJson<{ name: string }[]>('network', 'list')).map((network) => network.name);
    const instances = (await incusJson<{ project: string }[]>('list', '--all-projects')).filter(
      (instance) => instance.project === PROJECT,
    );
    expect(projects).not.toContain(PROJECT);
    expect(networks).not.toContain(BRIDGE);
    expect(instances).toEqual([]);
  });
});
