import { MongoClient, type Collection, type MongoClientOptions } from 'mongodb';
import type { Credentials, MongoTarget } from '../mongo/admin.js';
import type { WriteTarget } from './workload.js';

/** Database the failover workload writes to; each run uses its own collection and drops it afterwards. */
export const FAILOVER_DATABASE = 'distctl_failover';

/**
 * Server selection of the workload. Short on purpose: with the driver's 30 s
 * default a write simply waits out any election and almost none is ever
 * reported as failed, which hides how long the set was unwritable.
 */
export const WORKLOAD_SERVER_SELECTION_TIMEOUT_MS = 2_000;

/** The driver options of the workload's writes: as an application would write, but impatient (see above). */
export function workloadClientOptions(credentials: Credentials): MongoClientOptions {
  return {
    appName: 'distctl-failover-test',
    auth: { username: credentials.username, password: credentials.password },
    authSource: 'admin',
    serverSelectionTimeoutMS: WORKLOAD_SERVER_SELECTION_TIMEOUT_MS,
    connectTimeoutMS: 3_000,
    retryWrites: true,
    writeConcern: { w: 'majority', wtimeoutMS: 15_000 },
  };
}

/**
 * The failover workload's writes through the official driver, as an
 * application would make them: the replica-set URL, w:"majority", retryable
 * writes. Replication is checked per member over direct connections, so
 * "readable on X" means X itself served it.
 */
export class MongoWriteTarget implements WriteTarget {
  private readonly client: MongoClient;
  private readonly direct = new Map<string, MongoClient>();
  private readonly collectionName = `run_${Date.now()}`;
  /** Whether anything was written; an unused target has nothing to drop and must not wait for a server to drop it. */
  private wrote = false;

  /** `url`: the set's connection string without credentials (`mongodb://h1,h2,h3/db?replicaSet=rs`). */
  constructor(
    url: string,
    private readonly credentials: Credentials,
  ) {
    this.client = new MongoClient(url, workloadClientOptions(credentials));
  }

  private collection(client: MongoClient = this.client): Collection<{ _id: number; at: Date }> {
    return client.db(FAILOVER_DATABASE).collection(this.collectionName);
  }

  async insert(seq: number): Promise<void> {
    this.wrote = true;
    await this.collection().insertOne({ _id: seq, at: new Date() });
  }

  async presentSeqs(): Promise<Set<number>> {
    const documents = await this.collection()
      .find({}, { projection: { _id: 1 }, readConcern: { level: 'majority' } })
      .toArray();
    return new Set(documents.map((document) => document._id));
  }

  async readableOn(member: MongoTarget, seq: number): Promise<boolean> {
    let client = this.direct.get(member.host);
    if (client === undefined) {
      client = new MongoClient(`mongodb://${member.host}/`, {
        ...workloadClientOptions(this.credentials),
        directConnection: true,
        readPreference: 'secondaryPreferred',
      });
      this.direct.set(member.host, client);
    }
    return (await this.collection(client).findOne({ _id: seq })) !== null;
  }

  async close(): Promise<void> {
    if (this.wrote)
      await this.collection()
        .drop()
        .catch(() => undefined);
    await Promise.all([this.client, ...this.direct.values()].map((client) => client.close()));
  }
}
