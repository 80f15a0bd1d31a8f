import { MongoClient, type Collection } from 'mongodb';
import type { WriteTarget } from './workload.js';

/** Database the failover workload writes to; each run uses its own collection and drops it afterwards. */
export const FAILOVER_DATABASE = 'distctl_failover';

/**
 * The failover workload's writes through the official driver, as an
 * application would make them: the replica-set URL, w:"majority", retryable
 * writes, and server selection patient enough to ride out an election.
 */
export class MongoWriteTarget implements WriteTarget {
  private readonly client: MongoClient;
  private readonly secondaryClient: MongoClient;
  private readonly collectionName = `run_${Date.now()}`;
  /** Whether anything was written; an unused target has nothing to drop and must not wait for a server to drop it. */
  private wrote = false;

  constructor(url: string) {
    const common = { appName: 'distctl-failover-test', serverSelectionTimeoutMS: 30_000, connectTimeoutMS: 3_000 };
    this.client = new MongoClient(url, { ...common, retryWrites: true, writeConcern: { w: 'majority', wtimeoutMS: 15_000 } });
    this.secondaryClient = new MongoClient(url, { ...common, readPreference: 'secondary' });
  }

  private collection(client: MongoClient = this.client): Collection<{ _id: number; at: Date }> {
    return client.db(FAILOVER_DATABASE).collection(this.collectionName);
  }

  async insert(seq: number): Promise<void> {
    this.wrote = true;
    await this.collection().insertOne({ _id: seq, at: new Date() });
  }

  async presentSeqs(): Promise<Set<number>> {
    const documents = await this.collection().find({}, { projection: { _id: 1 }, readConcern: { level: 'majority' } }).toArray();
    return new Set(documents.map((document) => document._id));
  }

  async readableOnSecondary(seq: number): Promise<boolean> {
    return (await this.collection(this.secondaryClient).findOne({ _id: seq })) !== null;
  }

  async close(): Promise<void> {
    if (this.wrote) await this.collection().drop().catch(() => undefined);
    await Promise.all([this.client.close(), this.secondaryClient.close()]);
  }
}
