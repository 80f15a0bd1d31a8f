/**
 * ProductShardStore on one MongoDB replica set: collection `products` in the
 * database named by the shard's URL. Names and categories are stored with
 * their textKey beside them, so search and name order are case- and
 * accent-insensitive with plain indexes and the binary collation.
 */
import type { Collection, Filter, UpdateFilter } from 'mongodb';
import { guard, once, type MongoDatabase } from '../shared/mongo.js';
import {
  textKey,
  type ProductChanges,
  type ProductFilter,
  type ProductShardStore,
  type ShardQuery,
  type StoredProduct,
  type UpdateOutcome,
} from './products.js';

interface ProductDocument {
  _id: string;
  name: string;
  nameKey: string;
  price: number;
  stock: number;
  category: string;
  categoryKey: string;
  createdAt: Date;
  updatedAt: Date;
  pending?: { from: string };
  /** Absent on products written before versions existed: read as 1. */
  version?: number;
}

const SORT_KEYS = { name: 'nameKey', price: 'price', stock: 'stock' } as const;

/** The real shard store; `shard` is the replica-set name used in responses. */
export class MongoProductShardStore implements ProductShardStore {
  private readonly ensureIndexes: () => Promise<void>;

  constructor(
    readonly shard: string,
    private readonly database: MongoDatabase,
  ) {
    this.ensureIndexes = once(async () => {
      // Each listing order is an index walked forwards or backwards and cut at the page's end
      // (ties by _id in the same direction); a category filter has its own per-order indexes.
      await (
        await this.collection()
      ).createIndexes([
        { key: { nameKey: 1, _id: 1 }, name: 'by_name' },
        { key: { price: 1, _id: 1 }, name: 'by_price' },
        { key: { stock: 1, _id: 1 }, name: 'by_stock' },
        { key: { categoryKey: 1, nameKey: 1, _id: 1 }, name: 'by_category_name' },
        { key: { categoryKey: 1, price: 1, _id: 1 }, name: 'by_category_price' },
        { key: { categoryKey: 1, stock: 1, _id: 1 }, name: 'by_category_stock' },
        { key: { 'pending.from': 1 }, name: 'pending_moves', sparse: true },
      ]);
    });
  }

  async prepare(): Promise<void> {
    await guard(this.shard, () => this.ensureIndexes());
  }

  async put(product: StoredProduct): Promise<void> {
    await this.run((products) => products.replaceOne({ _id: product.id }, toDocument(product), { upsert: true }));
  }

  async findById(id: string): Promise<StoredProduct | null> {
    const doc = await this.run((products) => products.findOne({ _id: id }));
    return doc ? fromDocument(doc) : null;
  }

  async update(
    id: string,
    changes: ProductChanges,
    updatedAt: Date,
    expectedVersion: number | null,
  ): Promise<UpdateOutcome> {
    const set: UpdateFilter<ProductDocument>['$set'] = {
      ...changes,
      ...(changes.name === undefined ? {} : { nameKey: textKey(changes.name) }),
      ...(changes.category === undefined ? {} : { categoryKey: textKey(changes.category) }),
      updatedAt,
    };
    const updated = await this.run((products) =>
      products.findOneAndUpdate(
        { _id: id, ...versionFilter(expectedVersion) },
        { $set: set, $inc: { version: 1 } },
        { returnDocument: 'after' },
      ),
    );
    if (updated) return { state: 'updated', product: fromDocument(updated) };
    const current = await this.findById(id);
    return current ? { state: 'conflict', current } : { state: 'missing' };
  }

  async delete(id: string, expectedVersion?: number): Promise<boolean> {
    const result = await this.run((products) =>
      products.deleteOne({ _id: id, ...versionFilter(expectedVersion ?? null) }),
    );
    return result.deletedCount === 1;
  }

  async clearPending(id: string): Promise<void> {
    await this.run((products) =>
      products.updateOne({ _id: id, pending: { $exists: true } }, { $unset: { pending: '' } }),
    );
  }

  async query(query: ShardQuery): Promise<StoredProduct[]> {
    const docs = await this.run((products) =>
      products
        .find(toFilter(query.filter))
        .sort({ [SORT_KEYS[query.sort.field]]: query.sort.direction, _id: query.sort.direction })
        .limit(query.limit)
        .toArray(),
    );
    return docs.map(fromDocument);
  }

  async count(filter: ProductFilter): Promise<number> {
    // Unfiltered: the collection's own count (metadata, O(1)) instead of walking an index.
    if (filter.nameContains === undefined && filter.category === undefined)
      return this.run((products) => products.estimatedDocumentCount());
    return this.run((products) => products.countDocuments(toFilter(filter)));
  }

  async findPending(): Promise<StoredProduct[]> {
    const docs = await this.run((products) => products.find({ pending: { $exists: true } }).toArray());
    return docs.map(fromDocument);
  }

  async ping(): Promise<void> {
    // The database's own ping first: it answers in one round trip when every host refuses the connection.
    await guard(this.shard, async () => {
      await this.database.ping();
      await this.ensureIndexes();
    });
  }

  private run<T>(operation: (products: Collection<ProductDocument>) => Promise<T>): Promise<T> {
    return guard(this.shard, async () => {
      await this.ensureIndexes();
      return operation(await this.collection());
    });
  }

  private async collection(): Promise<Collection<ProductDocument>> {
    return (await this.database.db()).collection<ProductDocument>('products');
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function toFilter(filter: ProductFilter): Filter<ProductDocument> {
  return {
    ...(filter.nameContains === undefined ? {} : { nameKey: { $regex: escapeRegExp(filter.nameContains) } }),
    ...(filter.category === undefined ? {} : { categoryKey: filter.category }),
  };
}

/** Matches only this version; version 1 also matches products stored before versions existed. */
function versionFilter(expected: number | null): Filter<ProductDocument> {
  if (expected === null) return {};
  return expected === 1 ? { $or: [{ version: 1 }, { version: { $exists: false } }] } : { version: expected };
}

function toDocument(product: StoredProduct): ProductDocument {
  return {
    _id: product.id,
    name: product.name,
    nameKey: textKey(product.name),
    price: product.price,
    stock: product.stock,
    category: product.category,
    categoryKey: textKey(product.category),
    createdAt: product.createdAt,
    updatedAt: product.updatedAt,
    ...(product.pending ? { pending: { from: product.pending.from } } : {}),
    version: product.version,
  };
}

function fromDocument(doc: ProductDocument): StoredProduct {
  return {
    id: doc._id,
    name: doc.name,
    price: doc.price,
    stock: doc.stock,
    category: doc.category,
    createdAt: doc.createdAt,
    updatedAt: doc.updatedAt,
    pending: doc.pending ? { from: doc.pending.from } : null,
    version: doc.version ?? 1,
  };
}
