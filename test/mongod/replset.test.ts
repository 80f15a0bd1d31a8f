/**
 * The MongoDB tier against real mongod processes: three members of a replica
 * set, each on its own address (as each container has its own IP) plus
 * 127.0.0.1 (random ports, temp dbpaths), started from configs rendered by the
 * same code as in containers (keyfile and authorization on), then initiated,
 * waited for and observed through the same code paths `distctl up` and
 * `distctl status` use — driver from the "host", 127.0.0.1 for the
 * localhost exception — and failed over in both modes, with the election time
 * held to a bound. Skipped, saying why, when no mongod binary exists.
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
import { generateKeyFile } from '../../src/mongo/users.js';
import { runFailoverTest, type FailoverMode } from '../../src/failover/index.js';
import { hasCode, MongoErrorCode } from '../../src/mongo/admin.js';
import { MongoWriteTarget } from '../../src/failover/mongo-target.js';
import { desiredState } from '../unit/mongo/desired.js';
import { DirectLocalhost, LocalOps } from '../unit/mongo/local-ops.js';
import { freePort, localhostExceptionGuarded, memberAddresses, mongodBin } from './support.js';

/** The unit's RestartSec: after a SIGKILL the tier restarts mongod as systemd's Restart=on-failure would. */
const RESTART_SEC_MS = 2_000;
/**
 * Election bounds: a SIGTERM hands the election over within about a second; a
 * crash waits out electionTimeoutMillis (10 s) plus up to 15 %, from the last heartbeat.
 */
const ELECTION_BOUND_SECONDS: Record<FailoverMode, number> = { stepdown: 2, crash: 15 };

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
    const members: ReplicaSetMember[] = ports.map((port, index) => {
      const ip = memberAddresses[index] ?? `127.0.0.${index + 2}`;
      return {
        container: 'local',
        ip,
        port,
        replicaSet: 'rsTier',
        unitName: `mongod-${port}.service`,
        dbPath: join(dir, `mongo${index + 1}`),
        logPath: join(dir, 'log', `mongod${index + 1}.log`),
        bindIp: [ip, '127.0.0.1'],
        id: index,
        host: `${ip}:${port}`,
        priority: 3 - index,
      };
    });
    set = {
      name: 'rsTier',
      database: 'products_db',
      envVar: 'DB1_URL',
      url: `mongodb://${members.map((m) => m.host).join(',')}/products_db?replicaSet=rsTier`,
      members,
      initiateConfig: {
        _id: 'rsTier',
        members: members.map((m) => ({ _id: m.id, host: m.host, priority: m.priority })),
      },
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
    await Promise.all(
      members.map((member) => waitForMongod(ops, admin, member, { intervalMs: 250, timeoutMs: 60_000 })),
    );
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

  it.skipIf(!localhostExceptionGuarded)(
    'refuses a bootstrap command sent over the network channel (no localhost exception there)',
    async () => {
      const error = await admin
        .command(set.members[0]!, 'admin', { createUser: 'wrong-channel', pwd: 'x', roles: [] })
        .catch((caught: unknown) => caught);
      expect(hasCode(error, MongoErrorCode.Unauthorized)).toBe(true);
    },
  );

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

  /** Stops a member as systemd would: SIGTERM and wait for the exit, or SIGKILL and restart it after RestartSec. */
  function stopMember(member: ReplicaSetMember, mode: FailoverMode): Promise<void> {
    const entry = byPort.get(member.port);
    if (!entry) throw new Error(`no process for ${member.host}`);
    if (mode === 'crash') {
      // `void`: a failed restart still surfaces as an unhandled rejection, failing the run.
      entry.child.once('exit', () => setTimeout(() => void startMember(member), RESTART_SEC_MS));
      entry.child.kill('SIGKILL');
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      entry.child.once('exit', () => resolve());
      entry.child.kill('SIGTERM');
    });
  }

  /** `systemctl start`: a no-op while the member runs. */
  function startMember(member: ReplicaSetMember): Promise<void> {
    const entry = byPort.get(member.port);
    if (!entry) throw new Error(`no process for ${member.host}`);
    if (entry.child.exitCode === null && entry.child.signalCode === null) return Promise.resolve();
    const child = spawn(mongodBin ?? 'mongod', ['--config', entry.configPath], { stdio: 'ignore' });
    running.push(child);
    byPort.set(member.port, { ...entry, child });
    return Promise.resolve();
  }

  it.each<FailoverMode>(['stepdown', 'crash'])(
    'survives the loss of its PRIMARY under writes (%s): elected within the bound, no write lost, member back',
    async (mode) => {
      const target = new MongoWriteTarget(set.url, credentials);
      try {
        const report = await runFailoverTest(set, {
          admin,
          credentials,
          target,
          mode,
          stopMember,
          startMember,
          timings: { warmupMs: 2_000, afterMs: 2_000 },
        });
        console.log(
          `mongod tier, ${mode}: ${JSON.stringify({ ...report, writes: { ...report.writes, errors: undefined } })}`,
        );
        expect(report.problems).toEqual([]);
        expect(report.electionReason).toBe(mode === 'crash' ? 'electionTimeout' : 'stepUpRequestSkipDryRun');
        expect(report.electionSeconds).not.toBeNull();
        expect(report.electionSeconds!).toBeLessThanOrEqual(ELECTION_BOUND_SECONDS[mode]);
        // The stop of a graceful shutdown lasts its quiesce; the election does not wait for it.
        if (mode === 'stepdown') expect(report.stopReturnedSeconds!).toBeGreaterThan(report.electionSeconds!);
        expect(report.restart.by).toBe(mode === 'crash' ? 'systemd' : 'distctl');
        expect(report.writes.acknowledgedButLost).toEqual([]);
        expect(report.replication?.members.filter((member) => member.readable === true)).toHaveLength(2);
        expect(report.primaryAtEnd).toBe(set.members[0]!.host);
      } finally {
        await target.close();
      }
    },
    180_000,
  );
});
