// The cluster tier: distctl against a real three-member Incus cluster formed on this one machine by
// test/cluster/cluster.sh (one incusd per member, each in its own network and mount namespaces, joined
// over a test bridge; the containers' bridge is one VXLAN segment across the members). distctl reaches
// it through the remote `dcl:` in a client config of its own; the client's default daemon is pointed
// at nothing, so a call that forgets the remote fails instead of touching the host's Incus.
//
// The image has no mongod and the topology says MongoDB comes with the image: the databases stage
// must fail with its clear error while everything else is placed, addressed and deployed across
// the members. Everything is torn down in afterAll even when a check fails (the script's own trap
// covers a failed formation).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecaRunner } from '../../src/exec/runner.js';
import { distctl, repoRoot, type CliRun } from '../integration/support.js';

const SCRIPT = join(repoRoot, 'test/cluster/cluster.sh');
const CLUSTER_DIR = '/tmp/dcl';
const REMOTE = 'dcl';
const PROJECT = 'dcltier';
const SUBNET = '172.31.202';
const VNI = 4243;
const GROUP = '239.255.42.43';
const IP = { auth: `${SUBNET}.10`, web: `${SUBNET}.11`, 'db-1': `${SUBNET}.21`, 'db-2': `${SUBNET}.22` } as const;
const DB3 = `${SUBNET}.23`;
const MEMBERS = ['m1', 'm2', 'm3'];
/** An HTTP request for printf (its escapes), sent over bash's /dev/tcp. */
const HEALTH = 'GET /health HTTP/1.0\\r\\n\\r\\n';
const started = Date.now();

/** The client environment of the test cluster: its own config, no default daemon. */
const clientEnv = {
  INCUS_CONF: join(CLUSTER_DIR, 'conf'),
  INCUS_DIR: join(CLUSTER_DIR, 'no-local-daemon'),
};

function skipReason(): string | undefined {
  if (process.env.DISTCTL_SKIP_CLUSTER === '1') return 'DISTCTL_SKIP_CLUSTER=1';
  if (process.getuid?.() !== 0) return 'not root (namespaces, veths and incusd need root)';
  if (!existsSync('/usr/libexec/incus/incusd')) {
    try {
      execFileSync('sh', ['-c', 'command -v incusd'], { stdio: 'ignore' });
    } catch {
      return 'incusd is not installed (run bin/ensure-incus.sh as root)';
    }
  }
  try {
    // The host daemon holds the image the cluster imports (test/host/ensure-image.sh builds it).
    execFileSync('incus', ['query', '/1.0/images/aliases/debian12-distctl'], { stdio: 'ignore', timeout: 15_000 });
  } catch {
    return 'the host Incus does not answer or has no image debian12-distctl (run test/host/ensure-image.sh)';
  }
  return undefined;
}

const skip = skipReason();
if (skip) console.log(`cluster tier skipped: ${skip}`);

const runner = new ExecaRunner();
const dir = mkdtempSync(join(tmpdir(), 'distctl-cluster-'));
const env = { ...clientEnv, DISTCTL_STATE_DIR: join(dir, 'state') };
const file = join(dir, 'topology.yaml');

/** cluster.sh with its one-line steps shown in the test log. */
function clusterScript(command: 'up' | 'down', extra: Record<string, string> = {}): void {
  execFileSync('bash', [SCRIPT, command], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      DCL_DIR: CLUSTER_DIR,
      DCL_REMOTE: REMOTE,
      DCL_CT_NET: SUBNET,
      DCL_VNI: `${VNI}`,
      DCL_GROUP: GROUP,
      ...extra,
    },
    timeout: 300_000,
  });
}

/** incus against the test cluster; throws with its stderr. */
async function incus(...args: string[]): Promise<string> {
  const result = await runner.run({ bin: 'incus', args, env: { ...process.env, ...clientEnv }, timeoutMs: 180_000 });
  if (result.exitCode !== 0) throw new Error(`incus ${args.join(' ')} (exit ${result.exitCode}): ${result.stderr}`);
  return result.stdout;
}

/** A command inside a container of the deployment. */
function inside(container: string, script: string): Promise<string> {
  return incus('exec', `${REMOTE}:${container}`, '--project', PROJECT, '--', 'timeout', '20', 'bash', '-c', script);
}

/** What bash's /dev/tcp reads from HOST:PORT after sending REQUEST (the first line only). */
function tcpFrom(container: string, host: string, port: number, request = ''): Promise<string> {
  return inside(
    container,
    `exec 3<>/dev/tcp/${host}/${port} && printf '${request}' >&3 && head -n 1 <&3 | tr -d '\\r'`,
  ).then((line) => line.trim());
}

/** Where each container of the deployment runs. */
async function locations(): Promise<Record<string, string>> {
  const list = JSON.parse(await incus('list', `${REMOTE}:`, '--project', PROJECT, '--format', 'json')) as {
    name: string;
    location: string;
    status: string;
  }[];
  return Object.fromEntries(list.map((instance) => [instance.name, `${instance.location} ${instance.status}`]));
}

function transcript(run: CliRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

const TOPOLOGY = `version: 1
project: ${PROJECT}
incus: { remote: ${REMOTE} }
image: debian12-distctl
network:
  name: dclnet0
  subnet: ${SUBNET}.0/24
  gateway: ${SUBNET}.1
  nat: false
  tunnel: { id: ${VNI}, group: ${GROUP}, interface: eth0 }
containers:
  - { name: auth, ipv4: ${IP.auth}, target: m1 }
  - { name: web, ipv4: ${IP.web}, target: m2 }
  - { name: db-1, ipv4: ${IP['db-1']} }
  - { name: db-2, ipv4: ${IP['db-2']} }
  - { name: db-3, ipv4: ${DB3} }
mongodb:
  version: "7.0"
  source: image
  replicaSets:
    - name: rsA
      database: products_db
      env: DB1_URL
      spread: true
      members:
        - { container: db-1, port: 27017, priority: 3 }
        - { container: db-2, port: 27017, priority: 2 }
        - { container: db-3, port: 27017, priority: 1 }
    - name: rsB
      database: products_db
      env: DB2_URL
      spread: true
      members:
        - { container: db-1, port: 27018, priority: 3 }
        - { container: db-2, port: 27018, priority: 2 }
        - { container: db-3, port: 27018, priority: 1 }
  standalones:
    - { name: users, container: db-3, port: 27019, database: auth_db, env: DB3_URL }
sharding:
  defaultShard: rsA
  ranges:
    - { from: A, to: M, replicaSet: rsA }
    - { from: N, to: Z, replicaSet: rsB }
services:
  - { name: auth-server, kind: auth, container: auth, port: 5000, database: users }
  - { name: web-server, kind: web, container: web, port: 3000, auth: auth-server }
`;

describe.skipIf(skip !== undefined)('distctl on a three-member Incus cluster', () => {
  let firstUp: CliRun;

  beforeAll(() => {
    // Leftovers of an earlier run (the script's `down` is idempotent), then a fresh cluster.
    clusterScript('down');
    clusterScript('up');
    writeFileSync(file, TOPOLOGY);
  });

  afterAll(() => {
    try {
      // The members' logs stay for the failure that needs them (cluster.sh says where).
      clusterScript('down', { DCL_KEEP_LOGS: '/tmp/distctl-cluster-logs' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      console.log(`cluster tier: ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
    }
  });

  it('the cluster has three online members, reached through the remote only', async () => {
    const members = JSON.parse(await incus('cluster', 'list', `${REMOTE}:`, '--format', 'json')) as {
      server_name: string;
      status: string;
    }[];
    expect(members.map((member) => `${member.server_name} ${member.status}`)).toEqual(
      MEMBERS.map((name) => `${name} Online`),
    );
    await expect(incus('list')).rejects.toThrow(/no-local-daemon/);
  });

  it('up places the containers on all three members (target and spread) and fails on the databases only', async () => {
    firstUp = await distctl(['up', '-f', file, '--yes', '--json'], env);
    expect(firstUp.json?.failedStages, transcript(firstUp)).toEqual(['databases']);
    const stages = (firstUp.json?.stages ?? []) as { stage: string; status: string; error?: { code: string } }[];
    expect(stages.find((stage) => stage.stage === 'databases')?.error?.code).toBe('MONGOD_NOT_IN_IMAGE');
    expect(stages.find((stage) => stage.stage === 'services')?.status, transcript(firstUp)).toBe('ok');
    const where = await locations();
    expect({ auth: where.auth, web: where.web }).toEqual({ auth: 'm1 Running', web: 'm2 Running' });
    // spread: the set's three containers on three different members, wherever Incus put each.
    expect(new Set(['db-1', 'db-2', 'db-3'].map((name) => where[name])).size).toBe(3);
    expect(['db-1', 'db-2', 'db-3'].map((name) => where[name]?.split(' ')[0]).sort()).toEqual(MEMBERS);
  });

  it('containers on different members reach each other over TCP at their static addresses', async () => {
    const where = await locations();
    // A listener in db-3, probed from every container on another member.
    await inside(
      'db-3',
      `nohup perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => 7777, Listen => 5, ReuseAddr => 1)
        or die; while ($c = $s->accept) { print $c "pong\\n"; close $c }' >/dev/null 2>&1 &
      for i in $(seq 50); do ss -Hltn "sport = 7777" | grep -q . && exit 0; sleep 0.2; done; exit 1`,
    );
    const memberOf = (name: string) => where[name]?.split(' ')[0];
    const others = ['auth', 'web', 'db-1', 'db-2'].filter((name) => memberOf(name) !== memberOf('db-3'));
    expect(others).toEqual(['auth', 'web', 'db-1', 'db-2']);
    for (const name of others) expect(await tcpFrom(name, DB3, 7777), `${name} -> db-3`).toBe('pong');
  });

  it('the services answer /health inside the cluster, across members', async () => {
    // db-3 runs on neither m1 (auth) nor m2 (web): both requests cross members.
    expect(await tcpFrom('db-3', IP.auth, 5000, HEALTH)).toBe('HTTP/1.1 200 OK');
    expect(await tcpFrom('db-3', IP.web, 3000, HEALTH)).toBe('HTTP/1.1 200 OK');
    // web-server reaches auth-server (m2 -> m1) at its topology address.
    expect(await tcpFrom('web', IP.auth, 5000, HEALTH)).toBe('HTTP/1.1 200 OK');
  });

  it('status shows the members, and every container on its member at its declared address', async () => {
    // A health probe has 3 s; on a loaded machine one can time out, so status is asked up to three times.
    let status = await distctl(['status', '-f', file, '--json'], env);
    const healthOf = (run: CliRun) =>
      ((run.json?.services ?? []) as { name: string; health: { status: number | null } }[]).map(
        (service) => `${service.name} ${service.health.status}`,
      );
    for (let attempt = 1; attempt < 3 && healthOf(status).some((line) => !line.endsWith(' 200')); attempt++)
      status = await distctl(['status', '-f', file, '--json'], env);
    expect(status.json?.cluster, transcript(status)).toEqual(
      MEMBERS.map((name) => ({ name, state: 'Online', message: 'Fully operational' })),
    );
    const where = await locations();
    const containers = (status.json?.containers ?? []) as {
      name: string;
      state: string;
      actualIps: string[];
      member: { name: string; state: string } | null;
    }[];
    expect(containers.map((c) => `${c.name} ${c.state} ${c.member?.name} ${c.actualIps.join(',')}`)).toEqual(
      [
        ['auth', IP.auth],
        ['web', IP.web],
        ['db-1', IP['db-1']],
        ['db-2', IP['db-2']],
        ['db-3', DB3],
      ].map(([name, ip]) => `${name} Running ${where[name!]?.split(' ')[0]} ${ip}`),
    );
    expect(healthOf(status), JSON.stringify(status.json?.services)).toEqual(['auth-server 200', 'web-server 200']);
  });

  it('plan after up: nothing to change in Incus or the services, only the databases it could not install', async () => {
    const plan = await distctl(['plan', '-f', file, '--json'], env);
    expect(plan.json?.actions, transcript(plan)).toEqual([]);
    expect(plan.json?.conflicts).toEqual([]);
    expect(plan.json?.notices).toEqual([]);
    const stages = (plan.json?.stages ?? []) as { stage: string }[];
    expect(new Set(stages.map((stage) => stage.stage))).toEqual(new Set(['databases']));
  });

  it('drain of the member db-3 runs on evacuates it: db-3 stops there, the rest keeps running and serving', async () => {
    const member = (await locations())['db-3']!.split(' ')[0]!;
    const drain = await distctl(['drain', member, '-f', file, '--json'], env);
    expect(drain.code, transcript(drain)).toBe(0);
    // No mongod runs here, so there is no PRIMARY to step down; the evacuation is Incus's.
    expect(drain.json?.stopped).toEqual(['db-3']);
    const states = JSON.parse(await incus('cluster', 'list', `${REMOTE}:`, '--format', 'json')) as {
      server_name: string;
      status: string;
    }[];
    expect(states.find((state) => state.server_name === member)?.status).toBe('Evacuated');
    const where = await locations();
    expect(where['db-3']).toBe(`${member} Stopped`);
    expect(Object.values(where).filter((value) => value.endsWith(' Running')).length).toBe(4);
    expect(await tcpFrom('db-1', IP.web, 3000, HEALTH)).toBe('HTTP/1.1 200 OK');
  });

  it('undrain restores the member and starts db-3; it waits for mongods that do not exist here and says so', async () => {
    const member = (await locations())['db-3']!.split(' ')[0]!;
    const undrain = await distctl(['undrain', member, '-f', file, '--json', '--timeout', '5'], env);
    expect(undrain.json?.restored, transcript(undrain)).toBe(true);
    expect(undrain.code).toBe(1);
    // Which mongods it waited for, exactly; why each did not answer depends on how far db-3's boot got.
    const problems = (undrain.json?.problems ?? []) as string[];
    expect(problems.map((problem) => problem.split(': ')[0])).toEqual(
      [27017, 27018, 27019].map((port) => `${DB3}:${port} in db-3`),
    );
    for (const problem of problems) expect(problem).toMatch(/: not answering \(/);
    expect((await locations())['db-3']).toBe(`${member} Running`);
    const states = JSON.parse(await incus('cluster', 'list', `${REMOTE}:`, '--format', 'json')) as {
      server_name: string;
      status: string;
    }[];
    expect(states.map((state) => state.status)).toEqual(['Online', 'Online', 'Online']);
  });

  it('down removes the containers, the network and the project from the cluster', async () => {
    const down = await distctl(['down', '-f', file, '--yes', '--json'], env);
    expect(down.code, transcript(down)).toBe(0);
    const projects = JSON.parse(await incus('project', 'list', `${REMOTE}:`, '--format', 'json')) as { name: string }[];
    expect(projects.map((project) => project.name)).toEqual(['default']);
    const networks = JSON.parse(await incus('network', 'list', `${REMOTE}:`, '--format', 'json')) as {
      name: string;
      managed: boolean;
    }[];
    expect(networks.filter((network) => network.managed).map((network) => network.name)).toEqual([]);
  });
});
