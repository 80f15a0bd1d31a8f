/**
 * The MongoDB tier against real mongod processes: three members of a replica
 * set on 127.0.0.1 (random ports, temp dbpaths), started from configs rendered
 * by the same code as in containers (keyfile and authorization on), then
 * initiated, waited for and observed through the same code paths `distctl up`
 * and `distctl status` use — driver from the "host", 127.0.0.1 for the
 * localhost exception. Skipped, saying why, when no mongod binary exists.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DerivedReplicaSet, DesiredState, ReplicaSetMember } from '../../src/derive/types.js';
import { DriverMongoAdmin } from '../../src/mongo/driver-admin.js';
import { ensureReplicaSet, type ReplicaSetProgress } from '../../src/mongo/replset.js';
import { observeMongo } from '../../src/mongo/status.js';
import { renderMongodConfig, waitForMongod } from '../../src/mongo/units.js';
import { generateKeyFile, withCredentials } from '../../src/mongo/users.js';
import { runFailoverTest } from '../../src/failover/index.js';
import { MongoWriteTarget } from '../../src/failover/mongo-target.js';
import { desiredState } from '../unit/mongo/desired.js';
import { DirectLocalhost, LocalOps } from '../unit/mongo/local-ops.js';
import { freePort, mongodBin } from './support.js';


describe.skipIf(mongodBin === null)('replica set on real mongod processes', () => {
  const ops = new LocalOps();
  const admin = new DriverMongoAdmin({ serverSelectionTimeoutMS: 1_000, connectTimeoutMS: 1_000 });
  const credentials = { username: 'distctl-admin', password: 'tier-admin-password' };
  const running: ChildProcess[] = [];
  /** Per port: its config file and live process, so the failover test can stop and restart one member. */
  const byPort = new Map<number, { configPath: string; child: ChildProcess }>();
  let dir = '';
  let set: DerivedReplicaSet;
  let desired: DesiredState;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distctl-replset-'));
    const keyFilePath = join(dir, 'keyfile');
    await writeFile(keyFilePath, generateKeyFile(), { mode: 0o400 });
    const ports = [await freePort(), await freePort(), await freePort()];
    const members: ReplicaSetMember[] = ports.map((port, index) => ({
      container: 'local',
      ip: '127.0.0.1',
      port,
      replicaSet: 'rsTier',
      unitName: `mongod-${port}.service`,
      dbPath: join(dir, `mongo${index + 1}`),
      logPath: join(dir, 'log', `mongod${index + 1}.log`),
      bindIp: ['127.0.0.1'],
      id: index,
      host: `127.0.0.1:${port}`,
      priority: 3 - index,
    }));
    set = {
      name: 'rsTier',
      database: 'products_db',
      envVar: 'DB1_URL',
      url: `mongodb://${members.map((m) => m.host).join(',')}/products_db?replicaSet=rsTier`,
      members,
      initiateConfig: { _id: 'rsTier', members: members.map((m) => ({ _id: m.id, host: m.host, priority: m.priority })) },
    };
    desired = { ...desiredState(), replicaSets: [set], standalones: [], services: [] };
    await mkdir(join(dir, 'log'), { recursive: true });
    for (const member of members) {
      await mkdir(member.dbPath, { recursive: true });
      const configPath = join(dir, `mongod-${member.port}.conf`);
      await writeFile(configPath, await renderMongodConfig(member, keyFilePath));
      // Foreground, like the systemd unit: no --fork, no PID file.
      const child = spawn(mongodBin ?? 'mongod', ['--config', configPath], { stdio: 'ignore' });
      running.push(child);
      byPort.set(member.port, { configPath, child });
    }
    await Promise.all(members.map((member) => waitForMongod(ops, admin, member, { intervalMs: 250, timeoutMs: 60_000 })));
  });

  afterAll(async () => {
    await admin.close();
    await Promise.all(
      running.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const force = setTimeout(() => child.kill('SIGKILL'), 15_000);
            child.once('exit', () => {
              clearTimeout(force);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      ),
    );
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('initiates through the localhost exception, creates the admin user, and becomes healthy', async () => {
    const progress: ReplicaSetProgress[] = [];
    const result = await ensureReplicaSet(set, { admin, localhost: new DirectLocalhost(admin) }, credentials, {
      reach: { intervalMs: 500, timeoutMs: 30_000 },
      health: { intervalMs: 500, timeoutMs: 90_000 },
      onProgress: (p) => progress.push(p),
    });

    expect(result.initiated).toBe(true);
    expect(result.adminUser).toBe('created');
    expect(result.status.members.map((m) => m.state).sort()).toEqual(['PRIMARY', 'SECONDARY', 'SECONDARY']);
    expect(progress.some((p) => p.phase === 'syncing')).toBe(true);
  });

  it('changes nothing when run again', async () => {
    const result = await ensureReplicaSet(set, { admin, localhost: new DirectLocalhost(admin) }, credentials, {
      reach: { intervalMs: 500, timeoutMs: 30_000 },
      health: { intervalMs: 500, timeoutMs: 60_000 },
    });
    expect(result.initiated).toBe(false);
    expect(result.adminUser).toBe('existing');
  });

  it('observes one PRIMARY, two SECONDARY, with lag, as plain data', async () => {
    const status = await observeMongo(desired, admin, { credentials });
    const rs = status.replicaSets[0];
    if (rs?.reachable !== true) throw new Error(`set unreachable: ${JSON.stringify(rs)}`);
    expect(rs.members.filter((m) => m.state === 'PRIMARY')).toHaveLength(1);
    expect(rs.members.filter((m) => m.state === 'SECONDARY')).toHaveLength(2);
    expect(rs.members.every((m) => m.health === 1 && typeof m.lagSeconds === 'number')).toBe(true);
    expect(JSON.parse(JSON.stringify(status))).toEqual(status);
  });

  it('refuses unauthenticated status once the admin user exists', async () => {
    const status = await observeMongo(desired, admin);
    expect(status.replicaSets[0]?.reachable).toBe(false);
  });

  it('survives the loss of its PRIMARY under writes: a new PRIMARY, no acknowledged write lost, the member back', async () => {
    const target = new MongoWriteTarget(withCredentials(set.url, credentials));
    try {
      const report = await runFailoverTest(set, {
        admin,
        credentials,
        target,
        stopMember: async (member) => {
          const entry = byPort.get(member.port);
          if (!entry) throw new Error(`no process for ${member.host}`);
          await new Promise<void>((resolve) => {
            entry.child.once('exit', () => resolve());
            entry.child.kill('SIGTERM');
          });
        },
        startMember: async (member) => {
          const entry = byPort.get(member.port);
          if (!entry) throw new Error(`no process for ${member.host}`);
          const child = spawn(mongodBin ?? 'mongod', ['--config', entry.configPath], { stdio: 'ignore' });
          running.push(child);
          byPort.set(member.port, { ...entry, child });
        },
        timings: { warmupMs: 2_000, afterMs: 2_000, electionTimeoutMs: 60_000, rejoinTimeoutMs: 90_000 },
      });
      expect(report.problems).toEqual([]);
      expect(report.newPrimary).not.toBe(report.stoppedMember);
      expect(report.writes.acknowledgedButLost).toEqual([]);
      expect(report.replicatedToSecondary).toBe(true);
    } finally {
      await target.close();
    }
  });
});
