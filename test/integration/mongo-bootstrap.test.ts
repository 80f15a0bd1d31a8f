// The MongoDB tier's host-side plumbing against the live Incus daemon, in a
// container of the base image (no mongod exists on these machines, so
// stand-ins take its place):
// - the localhost-exception path: IncusProxyAccess adds its proxy device for
//   the bootstrap steps only, its host side a Unix socket in a private
//   directory that no other local user can connect to, a listener on
//   127.0.0.1 inside the container sees the connection come from 127.0.0.1,
//   and device and socket are gone afterwards, also when the steps fail;
// - the mongod unit: systemd accepts it (systemd-analyze verify), applies its
//   limits, and runs a stand-in mongod inside its sandbox, which can write its
//   data and log directories and nothing else.
// Own project, bridge and subnet; everything removed in afterAll.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecaRunner } from '../../src/exec/runner.js';
import { IncusClient } from '../../src/incus/client.js';
import { IncusProxyAccess } from '../../src/mongo/bootstrap.js';
import { renderMongodConfig, renderMongodUnit } from '../../src/mongo/units.js';
import { member } from '../unit/mongo/desired.js';
import { incus, integrationSkipReason, removeTestResources, testImage } from './support.js';

const PROJECT = 'distctl-it-dbboot';
const BRIDGE = 'ditdbboot0';
const SUBNET = '10.231.97';
const CONTAINER = 'dbboot1';
const PORT = 27017;
const target = { container: CONTAINER, host: `${SUBNET}.10:${PORT}`, port: PORT };

const skipReason = await integrationSkipReason('mongo bootstrap');

/** Runs a shell script inside the test container, script on stdin. */
async function inContainer(script: string): Promise<string> {
  const result = await new ExecaRunner().run({
    bin: 'incus',
    args: ['exec', CONTAINER, '--project', PROJECT, '--', 'sh', '-s'],
    input: script,
    timeoutMs: 120_000,
  });
  if (result.exitCode !== 0)
    throw new Error(`in ${CONTAINER}: exit ${result.exitCode}: ${result.stderr.trim()} ${result.stdout.trim()}`);
  return result.stdout;
}

async function devices(): Promise<Record<string, Record<string, string>>> {
  return (
    JSON.parse(await incus('query', `/1.0/instances/${CONTAINER}?project=${PROJECT}`)) as {
      devices: Record<string, Record<string, string>>;
    }
  ).devices;
}

/**
 * Connects to the Unix socket at `path` on this host and returns what the other side says before closing, or the
 * connection error's code.
 */
function dial(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ path });
    let said = '';
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (chunk: Buffer) => (said += chunk.toString()));
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
    socket.on('close', () => resolve(said.trim()));
  });
}

/** `dial(path)` as another local user (nobody), in a process of its own. */
async function dialAsNobody(path: string): Promise<string> {
  const script =
    `const s = require('node:net').connect(${JSON.stringify(path)}); let said = '';` +
    "s.on('data', (c) => (said += c)); s.on('error', (e) => console.log('error ' + e.code));" +
    "s.on('close', (failed) => failed || console.log(said.trim()));";
  const { stdout } = await promisify(execFile)('setpriv', [
    '--reuid=65534',
    '--regid=65534',
    '--clear-groups',
    process.execPath,
    '-e',
    script,
  ]);
  return stdout.trim();
}

describe.skipIf(skipReason !== undefined)('MongoDB bootstrap proxy and mongod unit on a live container', () => {
  beforeAll(async () => {
    expect(await removeTestResources(PROJECT, [BRIDGE])).toEqual([]);
    await incus('network', 'create', BRIDGE, `ipv4.address=${SUBNET}.1/24`, 'ipv4.nat=false', 'ipv6.address=none');
    // Images and profiles from the default project: the base image and its root disk.
    await incus('project', 'create', PROJECT, '-c', 'features.images=false', '-c', 'features.profiles=false');
    await incus('init', testImage, CONTAINER, '--project', PROJECT, '--network', BRIDGE);
    await incus('config', 'device', 'set', CONTAINER, 'eth0', `ipv4.address=${SUBNET}.10`, '--project', PROJECT);
    await incus('start', CONTAINER, '--project', PROJECT);
    // systemd answers on its bus a moment after the start; `degraded` is fine (units the base image cannot run).
    await inContainer(
      'i=0; until systemctl is-system-running 2>/dev/null | grep -qE "^(running|degraded)$"; do ' +
        'i=$((i + 1)); [ "$i" -ge 120 ] && exit 1; sleep 1; done',
    );
    // Stand-in for mongod's port: a socket unit on 127.0.0.1 only, telling each connection where it came from.
    await inContainer(
      [
        "cat > /etc/systemd/system/standin.socket <<'EOF'",
        '[Socket]',
        `ListenStream=127.0.0.1:${PORT}`,
        'Accept=yes',
        'EOF',
        "cat > /etc/systemd/system/standin@.service <<'EOF'",
        '[Service]',
        `ExecStart=/bin/sh -c 'echo "peer=$REMOTE_ADDR"'`,
        'StandardInput=socket',
        'StandardOutput=socket',
        'EOF',
        'systemctl daemon-reload',
        'systemctl start standin.socket',
      ].join('\n'),
    );
  }, 300_000);

  afterAll(async () => {
    const problems = await removeTestResources(PROJECT, [BRIDGE]);
    expect(problems).toEqual([]);
  }, 300_000);

  const access = new IncusProxyAccess(new IncusClient(new ExecaRunner()), PROJECT);

  it('opens a proxy device only while the bootstrap steps run, and the server inside sees 127.0.0.1', async () => {
    expect(Object.keys(await devices())).not.toContain('distctl-bootstrap-27017');
    let during: Record<string, string> | undefined;
    let peer = '';
    let stranger = '';
    let modes = { directory: 0, socket: 0 };
    const endpoint = await access.open(target, async (_channel, endpoint) => {
      during = (await devices())['distctl-bootstrap-27017'];
      peer = await dial(endpoint);
      stranger = await dialAsNobody(endpoint);
      modes = { directory: statSync(dirname(endpoint)).mode & 0o777, socket: statSync(endpoint).mode & 0o777 };
      return endpoint;
    });

    expect(endpoint).toMatch(/^\/.+\/distctl-\w{6}\/mongod-27017\.sock$/);
    expect(during).toEqual({
      type: 'proxy',
      bind: 'host',
      listen: `unix:${endpoint}`,
      connect: `tcp:127.0.0.1:${PORT}`,
      mode: '0600',
      uid: String(process.getuid?.()),
      gid: String(process.getgid?.()),
    });
    expect(peer).toBe('peer=127.0.0.1');
    expect(modes).toEqual({ directory: 0o700, socket: 0o600 });
    expect(stranger).toBe('error EACCES');
    // Gone afterwards: no device, no socket.
    expect(Object.keys(await devices())).not.toContain('distctl-bootstrap-27017');
    expect(await dial(endpoint)).toBe('error ENOENT');
  });

  it('removes the device when the steps fail', async () => {
    let endpoint = '';
    const error = await access
      .open(target, async (_channel, opened) => {
        endpoint = opened;
        throw new Error('bootstrap step failed');
      })
      .catch((e: unknown) => e);

    expect((error as Error).message).toBe('bootstrap step failed');
    expect(Object.keys(await devices())).not.toContain('distctl-bootstrap-27017');
    expect(await dial(endpoint)).toBe('error ENOENT');
  });

  it('runs the mongod unit as rendered: systemd accepts it, applies its limits, and the sandbox lets mongod write only its data and log directories', async () => {
    const process = member(CONTAINER, `${SUBNET}.10`, 27018, 2, 1, 0);
    // A stand-in mongod: takes the same arguments, writes where mongod writes, tries where it must not.
    const standIn = [
      '#!/bin/sh',
      `echo data > ${process.dbPath}/standin && echo log > /var/log/mongodb/standin.log`,
      // /srv/open is writable by everyone, but outside ReadWritePaths; /tmp is the unit's own.
      'touch /srv/open/standin 2>/dev/null && echo srv-writable >> /var/log/mongodb/standin.log',
      'echo private > /tmp/standin',
      'exec sleep infinity',
    ].join('\n');
    await inContainer(
      [
        'getent group mongodb >/dev/null || groupadd --system mongodb',
        'getent passwd mongodb >/dev/null || useradd --system --gid mongodb --no-create-home --shell ' +
          '/usr/sbin/nologin mongodb',
        `install -d -o mongodb -g mongodb -m 0750 ${process.dbPath} /var/log/mongodb`,
        'install -d -m 1777 /srv/open',
        `cat > /usr/local/bin/mongod-standin <<'EOF'\n${standIn}\nEOF`,
        'chmod 0755 /usr/local/bin/mongod-standin',
        `cat > /etc/mongod-27018.conf <<'EOF'\n${await renderMongodConfig(process, '/etc/mongodb-keyfile', 0.25)}EOF`,
        `cat > /etc/systemd/system/mongod-27018.service ` +
          `<<'EOF'\n${await renderMongodUnit(process, '/usr/local/bin/mongod-standin', '8.0')}EOF`,
        'systemctl daemon-reload',
      ].join('\n'),
    );

    expect(
      await inContainer('systemd-analyze verify /etc/systemd/system/mongod-27018.service 2>&1; echo "exit $?"'),
    ).toBe('exit 0\n');
    await inContainer('systemctl start mongod-27018.service && sleep 1');
    expect(await inContainer('systemctl is-active mongod-27018.service')).toBe('active\n');
    const shown = await inContainer(
      'systemctl show mongod-27018.service -p User -p LimitNOFILE -p LimitNPROC -p LimitMEMLOCK -p LimitAS -p ' +
        'LimitFSIZE -p LimitCPU -p TasksMax -p Environment -p ProtectSystem -p PrivateTmp -p NoNewPrivileges -p ' +
        'ReadWritePaths',
    );
    expect(shown.trim().split('\n').sort()).toEqual([
      'Environment=GLIBC_TUNABLES=glibc.pthread.rseq=0',
      'LimitAS=infinity',
      'LimitCPU=infinity',
      'LimitFSIZE=infinity',
      'LimitMEMLOCK=infinity',
      'LimitNOFILE=64000',
      'LimitNPROC=64000',
      'NoNewPrivileges=yes',
      'PrivateTmp=yes',
      'ProtectSystem=strict',
      `ReadWritePaths=${process.dbPath} /var/log/mongodb`,
      'TasksMax=infinity',
      'User=mongodb',
    ]);
    // Wrote its data and log; the open directory outside them stayed read-only; its /tmp is not the container's.
    expect(
      await inContainer(
        `cat ${process.dbPath}/standin /var/log/mongodb/standin.log; ls /srv/open; ls /tmp/standin 2>/dev/null || ` +
          `echo no-shared-tmp`,
      ),
    ).toBe('data\nlog\nno-shared-tmp\n');
    await inContainer('systemctl stop mongod-27018.service');
  });
});
