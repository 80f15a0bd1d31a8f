/**
 * The store contract against a real mongod: a one-member replica set on
 * 127.0.0.1 (random port, temp dbpath), so the Mongo stores get the same
 * checks as the in-memory ones — including w:"majority" writes and the
 * unique username index. Skipped, saying why, when no mongod binary exists.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { MongoUserStore } from '../../src/services/auth/mongo-users.js';
import { openDatabase, type MongoDatabase } from '../../src/services/shared/mongo.js';
import { MongoProductShardStore } from '../../src/services/web/mongo-products.js';
import { productShardStoreContract, userStoreContract } from '../unit/services/contract.js';
import { freePort, mongodBin } from './support.js';

function contractAgainstMongod(mongodPath: string): void {
  describe('Mongo stores against a real mongod', () => {
    let mongod: ChildProcess | undefined;
    let dbPath = '';
    let url = '';
    const opened: MongoDatabase[] = [];

    beforeAll(async () => {
      const port = await freePort();
      dbPath = mkdtempSync(join(tmpdir(), 'distctl-mongod-'));
      mongod = spawn(
        mongodPath,
        ['--replSet', 'rsTest', '--bind_ip', '127.0.0.1', '--port', String(port), '--dbpath', dbPath, '--quiet'],
        { stdio: 'ignore' },
      );
      const admin = new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true`, {
        serverSelectionTimeoutMS: 1000,
      });
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          await admin.db('admin').command({ ping: 1 });
          break;
        } catch (err) {
          if (Date.now() > deadline)
            throw new Error(`mongod on 127.0.0.1:${port} did not answer within 60 s`, { cause: err });
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      await admin
        .db('admin')
        .command({ replSetInitiate: { _id: 'rsTest', members: [{ _id: 0, host: `127.0.0.1:${port}` }] } });
      for (;;) {
        const hello = await admin.db('admin').command({ hello: 1 });
        if (hello['isWritablePrimary'] === true) break;
        if (Date.now() > deadline) throw new Error('replica set rsTest elected no primary within 60 s');
        await new Promise((r) => setTimeout(r, 250));
      }
      await admin.close();
      url = `mongodb://127.0.0.1:${port}`;
    });

    afterAll(async () => {
      await Promise.all(opened.map((d) => d.close()));
      if (mongod && mongod.exitCode === null) {
        const exited = new Promise((r) => mongod?.once('exit', r));
        mongod.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (mongod.exitCode === null) mongod.kill('SIGKILL');
      }
      if (dbPath) rmSync(dbPath, { recursive: true, force: true });
    });

    /** A fresh database per store, so every contract case starts empty. */
    const database = (): MongoDatabase => {
      const db = openDatabase(`${url}/t_${randomUUID().replace(/-/g, '')}?replicaSet=rsTest`);
      opened.push(db);
      return db;
    };

    userStoreContract('MongoDB', async () => new MongoUserStore(database()));
    productShardStoreContract('MongoDB', async (shard) => new MongoProductShardStore(shard, database()));
  });
}

if (mongodBin === null) {
  // One test, reported as skipped, so the run summary shows this tier did not run.
  it.skipIf(mongodBin === null)(
    'mongod tier: store contract against a real mongod (no mongod binary)',
    () => undefined,
  );
} else {
  contractAgainstMongod(mongodBin);
}
