import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadDeployment } from '../../../src/commands/context.js';
import type { DesiredState } from '../../../src/derive/types.js';
import { deployServices, startServiceProbes } from '../../../src/deploy/index.js';
import { PROBE_SCRIPT } from '../../../src/deploy/probe.js';
import { NODE_RUNTIME_RECORD, hostNode, readNodeRuntime } from '../../../src/deploy/node-runtime.js';
import { DistctlError } from '../../../src/errors/index.js';
import { SecretStore } from '../../../src/secrets/store.js';
import { FakeContainers } from './fake-container.js';
import { servicesTopology } from '../support/topologies.js';

const TOPOLOGY = servicesTopology({ project: 'deploy-unit', bridge: 'dunit0', subnet: '10.99.0' });

let dir: string;
let sources: string;
let desired: DesiredState;
let secrets: SecretStore;
let nodeSha: string;
let ops: FakeContainers;
const healthy: typeof fetch = async () => new Response('{"status":"ok"}', { status: 200 });

async function writeSources(webMessage: string): Promise<void> {
  await mkdir(join(sources, 'auth'), { recursive: true });
  await mkdir(join(sources, 'web'), { recursive: true });
  await writeFile(join(sources, 'auth', 'main.ts'), `console.log('auth service');\n`);
  await writeFile(join(sources, 'web', 'main.ts'), `console.log(${JSON.stringify(webMessage)});\n`);
}

const deploy = (extra: Partial<Parameters<typeof deployServices>[0]> = {}) =>
  deployServices({
    desired,
    ops,
    secrets,
    sourceRoot: sources,
    fetch: healthy,
    healthTimeoutMs: 5_000,
    healthSettleMs: 0,
    ...extra,
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-deploy-unit-'));
  sources = join(dir, 'services');
  await writeFile(join(dir, 'topology.yaml'), TOPOLOGY);
  desired = (await loadDeployment(join(dir, 'topology.yaml'))).desired;
  secrets = await SecretStore.open(join(dir, 'secrets'));
  nodeSha = (await hostNode()).sha256;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await writeSources('web service v1');
  ops = new FakeContainers(() => nodeSha);
});

/** Orders rows by their text, for comparing calls whose order does not matter. */
const byText = (a: readonly unknown[], b: readonly unknown[]): number => a.join(' ').localeCompare(b.join(' '));

describe('deployServices', () => {
  it('first deploy: pushes Node, bundle, 0600 environment and unit, creates the users, reloads, enables and restarts', async () => {
    const result = await deploy();
    expect(
      result.services.map(({ name, container, changed, restarted, healthy }) => ({
        name,
        container,
        changed,
        restarted,
        healthy,
      })),
    ).toEqual([
      { name: 'auth-server', container: 'auth', changed: true, restarted: true, healthy: true },
      { name: 'web-server', container: 'web', changed: true, restarted: true, healthy: true },
    ]);
    expect(ops.pushes().map((push) => [push.container, push.hostPath, push.path, push.mode])).toEqual(
      expect.arrayContaining([
        ['auth', process.execPath, '/usr/local/bin/node.distctl-new', 0o755],
        ['web', process.execPath, '/usr/local/bin/node.distctl-new', 0o755],
      ]),
    );
    const written = Object.fromEntries(
      ops
        .writes()
        .filter((write) => write.container === 'web')
        .map((write) => [write.path, write.mode]),
    );
    expect(written).toEqual({
      '/opt/distctl/web-server/main.mjs': 0o644,
      '/etc/distctl/web-server.env': 0o600,
      '/etc/systemd/system/web-server.service': 0o644,
      '/opt/distctl/web-server/.deployed': 0o600,
    });
    expect(ops.users.has('web:distctl-web-server')).toBe(true);
    const systemctl = ops
      .execs((argv) => argv[0] === 'systemctl' && argv[1] !== 'show')
      .filter((call) => call.container === 'web')
      .map((call) => call.argv.join(' '));
    expect(systemctl).toEqual([
      'systemctl daemon-reload',
      'systemctl enable --quiet web-server.service',
      'systemctl restart web-server.service',
    ]);
    expect(ops.unit('web', 'web-server.service').active).toBe('active');
  });

  it('environment file: derived env plus credentialed URLs, JWT secret and the first admin; secrets never on a command line', async () => {
    await deploy();
    const authEnv = ops.files.get('auth:/etc/distctl/auth-server.env') ?? '';
    const jwt = await secrets.get('jwt-secret');
    const adminPassword = await secrets.get('app-admin-password');
    const dbPassword = await secrets.get('mongodb-user-auth-server');
    expect(authEnv).toContain(`JWT_SECRET="${jwt}"`);
    expect(authEnv).toContain('ADMIN_USERNAME="admin"');
    expect(authEnv).toContain(`ADMIN_PASSWORD="${adminPassword}"`);
    expect(authEnv).toContain(
      `DB3_URL="mongodb://auth-server:${dbPassword}@10.99.0.12:27019/auth_db?authSource=admin"`,
    );
    expect(authEnv).toContain('PORT="5000"');
    const webEnv = ops.files.get('web:/etc/distctl/web-server.env') ?? '';
    expect(webEnv).toContain(`JWT_SECRET="${jwt}"`);
    expect(webEnv).not.toContain('ADMIN_PASSWORD');
    expect(webEnv).toMatch(/^SHARD_MAP="\{\\"defaultShard\\":\\"rsA\\"/m);
    const argvText = ops
      .execs()
      .map((call) => call.argv.join(' '))
      .join('\n');
    for (const secret of [jwt, adminPassword, dbPassword]) expect(argvText).not.toContain(secret);
  });

  it('a second deploy with nothing changed pushes nothing and restarts nothing, reading each container once', async () => {
    await deploy();
    const first = ops.calls.length;
    const result = await deploy();
    const after = ops.calls.slice(first);
    expect(result.services.every((service) => !service.changed && !service.restarted)).toBe(true);
    expect(after.filter((call) => call.kind !== 'exec')).toEqual([]);
    // One exec per container, the probe: the health check's first look at the unit reuses what it read.
    expect(after.map((call) => [call.container, call.kind === 'exec' ? call.argv[2] : call.kind]).sort(byText)).toEqual(
      [
        ['auth', PROBE_SCRIPT],
        ['web', PROBE_SCRIPT],
      ],
    );
    expect(ops.unit('web', 'web-server.service').starts).toBe(1);
  });

  it('probes started before the deploy (as up starts them beside the databases stage) replace its own', async () => {
    await deploy();
    const first = ops.calls.length;
    // Both probes are under way as soon as they are started, before anything is awaited.
    const probes = startServiceProbes(desired, ops);
    expect([...probes.keys()]).toEqual(['auth', 'web']);
    expect(ops.calls.slice(first).map((call) => [call.container, call.kind === 'exec' ? call.argv[2] : ''])).toEqual([
      ['auth', PROBE_SCRIPT],
      ['web', PROBE_SCRIPT],
    ]);
    const result = await deploy({ probes });
    expect(result.services.map((service) => [service.name, service.changed, service.restarted])).toEqual([
      ['auth-server', false, false],
      ['web-server', false, false],
    ]);
    expect(ops.calls.length).toBe(first + 2);
  });

  it('no probe is started ahead for a container that also runs a mongod', () => {
    const shared = {
      ...desired,
      services: desired.services.map((service) =>
        service.name === 'web-server' ? { ...service, container: 'db' } : service,
      ),
    };
    expect([...startServiceProbes(shared, ops).keys()]).toEqual(['auth']);
  });

  it('a code change to one service pushes only its bundle and restarts only it, without a daemon-reload', async () => {
    const first = await deploy();
    await writeSources('web service v2');
    const mark = ops.calls.length;
    const second = await deploy();
    const after = ops.calls.slice(mark);
    expect(second.services.map((service) => [service.name, service.changed, service.restarted])).toEqual([
      ['auth-server', false, false],
      ['web-server', true, true],
    ]);
    expect(second.services[1]?.artifactHash).not.toBe(first.services[1]?.artifactHash);
    expect(after.flatMap((call) => (call.kind === 'write' ? [`${call.container}:${call.path}`] : []))).toEqual([
      'web:/opt/distctl/web-server/main.mjs',
      'web:/opt/distctl/web-server/.deployed',
    ]);
    expect(after.filter((call) => call.kind === 'push')).toEqual([]);
    expect(
      after.flatMap((call) =>
        call.kind === 'exec' && call.argv[0] === 'systemctl' && call.argv[1] !== 'show' ? [call.argv.join(' ')] : [],
      ),
    ).toEqual(['systemctl restart web-server.service']);
    expect(ops.unit('auth', 'auth-server.service').starts).toBe(1);
    expect(ops.unit('web', 'web-server.service').starts).toBe(2);
  });

  it('a stopped but unchanged service is started, not re-pushed', async () => {
    await deploy();
    ops.unit('auth', 'auth-server.service').active = 'inactive';
    const mark = ops.calls.length;
    const result = await deploy();
    expect(result.services[0]).toMatchObject({ name: 'auth-server', changed: false, restarted: true });
    expect(ops.calls.slice(mark).filter((call) => call.kind === 'write')).toEqual([]);
    expect(ops.execs((argv) => argv.join(' ') === 'systemctl start auth-server.service')).toHaveLength(1);
  });

  it('only: deploys just the named service; an unknown name lists the known ones', async () => {
    const result = await deploy({ only: ['web-server'] });
    expect(result.services.map((service) => service.name)).toEqual(['web-server']);
    expect(ops.calls.some((call) => call.container === 'auth')).toBe(false);
    const error = await deploy({ only: ['nope'] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).message).toContain('unknown service: nope');
    expect((error as DistctlError).hint).toContain('auth-server, web-server');
  });

  it('a service that keeps crashing fails the deploy with its container and journal, not a hang', async () => {
    ops.crashing.add('web-server.service');
    const started = Date.now();
    const error = await deploy({
      only: ['web-server'],
      fetch: async () => Promise.reject(new TypeError('fetch failed')),
    }).catch((caught: unknown) => caught);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('SERVICE_UNHEALTHY');
    expect((error as DistctlError).message).toMatch(
      /web-server in container web is not healthy: its process exited and systemd restarted it 1 time/,
    );
    expect((error as DistctlError).details.join('\n')).toContain('line from web-server.service');
    expect(ops.execs((argv) => argv.join(' ') === 'journalctl -u web-server.service --no-pager -n 20')).toHaveLength(1);
  });

  it('a service whose /health never answers fails after the timeout', async () => {
    const error = await deploy({
      only: ['auth-server'],
      fetch: async () => new Response('no', { status: 503 }),
      healthTimeoutMs: 300,
    }).catch((caught: unknown) => caught);
    expect((error as DistctlError).message).toMatch(
      /auth-server in container auth is not healthy: http:\/\/10\.99\.0\.10:5000\/health did not answer 200 within 0 s/,
    );
  });

  it('a container where the copied Node cannot run is named in a clear error', async () => {
    ops.nodeVersion = null;
    const error = await deploy({ only: ['web-server'] }).catch((caught: unknown) => caught);
    expect((error as DistctlError).code).toBe('CONTAINER_NODE_UNUSABLE');
    expect((error as DistctlError).message).toContain('does not run in container web');
    expect((error as DistctlError).hint).toMatch(/CPU architecture.*glibc/);
  });

  it("records the Node runtime it pushed (version and sha256) in the deployment's state directory", async () => {
    const stateDir = join(dir, 'state-node');
    await mkdir(stateDir, { mode: 0o700 });
    expect(await readNodeRuntime(stateDir)).toBeNull();
    await deploy({ stateDir });
    expect(await readNodeRuntime(stateDir)).toMatchObject({
      version: process.version,
      sha256: nodeSha,
      path: process.execPath,
    });
    expect((await stat(join(stateDir, NODE_RUNTIME_RECORD))).mode & 0o777).toBe(0o600);
  });

  it('a copied Node older than 20 is refused', async () => {
    ops.nodeVersion = 'v18.19.0';
    const error = await deploy({ only: ['web-server'] }).catch((caught: unknown) => caught);
    expect((error as DistctlError).message).toContain('it reports v18.19.0');
  });

  it('bundles the real services by default (from src/services)', async () => {
    const result = await deployServices({
      desired,
      ops,
      secrets,
      only: ['auth-server'],
      fetch: healthy,
      healthSettleMs: 0,
    });
    const bundle = ops.files.get('auth:/opt/distctl/auth-server/main.mjs') ?? '';
    expect(result.services[0]?.changed).toBe(true);
    expect(bundle.length).toBeGreaterThan(500_000);
    expect(bundle).toContain('auth-server listening on');
    expect(await readFile(join(dir, 'secrets', 'jwt-secret'), 'utf8')).toHaveLength(43);
  });
});
