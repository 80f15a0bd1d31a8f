/**
 * Products as stored on one shard, the ProductShardStore interface every shard
 * store implements, and its in-memory implementation (tests, bench).
 */

/** Marks the new copy of a product being moved between shards (see catalog.ts). */
export interface PendingMove {
  /** The shard the product is moving away from. */
  readonly from: string;
}

/** A product document on one shard. `_id` is a UUID assigned by the service. */
export interface StoredProduct {
  readonly id: string;
  readonly name: string;
  readonly price: number;
  readonly stock: number;
  readonly category: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Set only on the new copy during a cross-shard move. */
  readonly pending: PendingMove | null;
  /** 1 at creation, +1 on every change: the optimistic-concurrency token clients send as If-Match. */
  readonly version: number;
}

/** The fields a client can change. */
export interface ProductChanges {
  readonly name?: string;
  readonly price?: number;
  readonly stock?: number;
  readonly category?: string;
}

/** What an in-place update did. */
export type UpdateOutcome =
  | { readonly state: 'updated'; readonly product: StoredProduct }
  | { readonly state: 'conflict'; readonly current: StoredProduct }
  | { readonly state: 'missing' };

/** Fields listings can sort by. */
export type SortField = 'name' | 'price' | 'stock';

/** A listing filter: both parts optional, matched case- and accent-insensitively. */
export interface ProductFilter {
  /** Substring of the name. */
  readonly nameContains?: string;
  /** Whole category. */
  readonly category?: string;
}

/** One shard's part of a listing: the first `limit` matches in `sort` order (ties by id, same direction). */
export interface ShardQuery {
  readonly filter: ProductFilter;
  readonly sort: { readonly field: SortField; readonly direction: 1 | -1 };
  readonly limit: number;
}

/** Persistence for one shard. Implementations throw StoreUnavailableError when the shard is down. */
export interface ProductShardStore {
  /** Replica-set name, as shown in responses and 503s. */
  readonly shard: string;
  /** Creates the indexes listings and searches use; called at startup, and lazily until it succeeds. */
  prepare(): Promise<void>;
  /** Inserts or replaces the product with this id. */
  put(product: StoredProduct): Promise<void>;
  findById(id: string): Promise<StoredProduct | null>;
  /**
   * Sets only the given fields (and `updatedAt`), adds 1 to `version`, atomically.
   * With `expectedVersion`, only if the stored version is that one: else 'conflict'
   * with the stored product. 'missing' when the id is not here.
   */
  update(id: string, changes: ProductChanges, updatedAt: Date, expectedVersion: number | null): Promise<UpdateOutcome>;
  /** Removes a product (with `expectedVersion`, only that version of it); false if nothing was removed. */
  delete(id: string, expectedVersion?: number): Promise<boolean>;
  /** Drops the pending-move mark of a product, if it has one. */
  clearPending(id: string): Promise<void>;
  query(query: ShardQuery): Promise<StoredProduct[]>;
  count(filter: ProductFilter): Promise<number>;
  /** Every product carrying a pending-move mark (normally none). */
  findPending(): Promise<StoredProduct[]>;
  /** Throws StoreUnavailableError unless the shard answers. */
  ping(): Promise<void>;
}

/**
 * The comparable form of a name or category: lower case, accents removed,
 * but ñ kept distinct as "n" + combining tilde, which sorts after every
 * "n…" and before "o" in code-point order — the Spanish order.
 */
export function textKey(text: string): string {
  return text
    .normalize('NFC')
    .toLowerCase()
    .replace(/ñ/g, '\u0001')
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/\u0001/g, 'n\u0303');
}

/**
 * Compares strings by code point, the order MongoDB uses for its binary
 * (default) collation on UTF-8 strings, so merged listings and per-shard
 * sorts agree. JS `<` compares UTF-16 units, which differs above U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i += 1) {
    const left = a.charCodeAt(i);
    const right = b.charCodeAt(i);
    if (left === right) continue;
    // Only surrogates (astral characters) order differently by unit than by code point.
    const surrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdfff;
    if (!surrogate(left) && !surrogate(right)) return left - right;
    return (a.codePointAt(i) ?? 0) - (b.codePointAt(i) ?? 0);
  }
  return a.length - b.length;
}

/**
 * The order of a listing: by the sort field, then by id so pages are stable
 * across shards, both in the listing's direction — so a descending listing
 * is an ascending index ({field: 1, _id: 1}) read backwards, never a sort of
 * the whole shard. `nameKeyOf` lets a caller supply cached keys.
 */
export function compareProducts(
  sort: ShardQuery['sort'],
  nameKeyOf: (product: StoredProduct) => string = (product) => textKey(product.name),
): (a: StoredProduct, b: StoredProduct) => number {
  return (a, b) => {
    const primary =
      sort.field === 'name' ? compareCodePoints(nameKeyOf(a), nameKeyOf(b)) : a[sort.field] - b[sort.field];
    return (primary !== 0 ? primary : compareCodePoints(a.id, b.id)) * sort.direction;
  };
}

/** Whether a product matches a filter whose parts are already textKey'd. */
export function matchesFilter(product: StoredProduct, filter: ProductFilter): boolean {
  if (filter.nameContains !== undefined && !textKey(product.name).includes(filter.nameContains)) return false;
  if (filter.category !== undefined && textKey(product.category) !== filter.category) return false;
  return true;
}

/** Largest chunk of a SortedIndex before it splits in two. */
const INDEX_CHUNK = 512;

/**
 * An ordered index, as a database keeps one (a B-tree's leaves, in short):
 * entries sorted by a comparison in chunks of at most INDEX_CHUNK, so adding
 * and removing cost O(log n + chunk), and a reader walks the order from either
 * end, paying only for what it reads.
 */
class SortedIndex {
  private readonly chunks: StoredProduct[][] = [];
  constructor(private readonly compare: (a: StoredProduct, b: StoredProduct) => number) {}

  add(product: StoredProduct): void {
    const at = this.chunkFor(product);
    const chunk = this.chunks[at];
    if (!chunk) {
      this.chunks.push([product]);
      return;
    }
    chunk.splice(this.positionIn(chunk, product), 0, product);
    if (chunk.length > INDEX_CHUNK)
      this.chunks.splice(at, 1, chunk.slice(0, chunk.length >> 1), chunk.slice(chunk.length >> 1));
  }

  remove(product: StoredProduct): void {
    const at = this.chunkFor(product);
    const chunk = this.chunks[at];
    if (!chunk) return;
    const position = this.positionIn(chunk, product);
    if (chunk[position] !== product) return;
    chunk.splice(position, 1);
    if (chunk.length === 0) this.chunks.splice(at, 1);
  }

  /** Entries in index order (or reversed), lazily: a reader that stops early has paid only for what it read. */
  *scan(direction: 1 | -1): Generator<StoredProduct> {
    if (direction === 1) {
      for (const chunk of this.chunks) yield* chunk;
      return;
    }
    for (let c = this.chunks.length - 1; c >= 0; c -= 1) {
      const chunk = this.chunks[c] as StoredProduct[];
      for (let i = chunk.length - 1; i >= 0; i -= 1) yield chunk[i] as StoredProduct;
    }
  }

  /** The first chunk whose last entry is not before `product` (the last chunk if none is). */
  private chunkFor(product: StoredProduct): number {
    let low = 0;
    let high = this.chunks.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const chunk = this.chunks[middle] as StoredProduct[];
      if (this.compare(chunk[chunk.length - 1] as StoredProduct, product) < 0) low = middle + 1;
      else high = middle;
    }
    return Math.max(low, 0);
  }

  private positionIn(chunk: readonly StoredProduct[], product: StoredProduct): number {
    let low = 0;
    let high = chunk.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.compare(chunk[middle] as StoredProduct, product) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/**
 * ProductShardStore in memory, for tests and the bench. It models the indexes
 * MongoDB uses ({nameKey|price|stock: 1, _id: 1}, sparse `pending`), so a
 * listing reads only as far into the sorted order as the page needs, as it
 * does on a shard — the bench measures the service, not a naive fake.
 */
export class MemoryProductShardStore implements ProductShardStore {
  private readonly products = new Map<string, StoredProduct>();
  /** textKey of each stored name, so sorting does not normalise on every comparison. */
  private readonly nameKeys = new WeakMap<StoredProduct, string>();
  private readonly indexes: Record<SortField, SortedIndex>;
  private readonly pendingIds = new Set<string>();

  constructor(readonly shard: string) {
    const nameKeyOf = (p: StoredProduct) => this.nameKeys.get(p) ?? textKey(p.name);
    this.indexes = {
      name: new SortedIndex(compareProducts({ field: 'name', direction: 1 }, nameKeyOf)),
      price: new SortedIndex(compareProducts({ field: 'price', direction: 1 })),
      stock: new SortedIndex(compareProducts({ field: 'stock', direction: 1 })),
    };
  }

  async prepare(): Promise<void> {}

  async put(product: StoredProduct): Promise<void> {
    this.store({ ...product });
  }

  async findById(id: string): Promise<StoredProduct | null> {
    const product = this.products.get(id);
    return product ? { ...product } : null;
  }

  async update(
    id: string,
    changes: ProductChanges,
    updatedAt: Date,
    expectedVersion: number | null,
  ): Promise<UpdateOutcome> {
    const current = this.products.get(id);
    if (!current) return { state: 'missing' };
    if (expectedVersion !== null && current.version !== expectedVersion)
      return { state: 'conflict', current: { ...current } };
    const product: StoredProduct = { ...current, ...changes, updatedAt, version: current.version + 1 };
    this.store(product);
    return { state: 'updated', product: { ...product } };
  }

  async delete(id: string, expectedVersion?: number): Promise<boolean> {
    const current = this.products.get(id);
    if (!current || (expectedVersion !== undefined && current.version !== expectedVersion)) return false;
    this.unstore(current);
    return true;
  }

  async clearPending(id: string): Promise<void> {
    const product = this.products.get(id);
    if (product?.pending) this.store({ ...product, pending: null });
  }

  async query(query: ShardQuery): Promise<StoredProduct[]> {
    const page: StoredProduct[] = [];
    if (query.limit <= 0) return page;
    for (const product of this.indexes[query.sort.field].scan(query.sort.direction)) {
      if (!matchesFilter(product, query.filter)) continue;
      page.push({ ...product });
      if (page.length === query.limit) break;
    }
    return page;
  }

  async count(filter: ProductFilter): Promise<number> {
    if (filter.nameContains === undefined && filter.category === undefined) return this.products.size;
    let n = 0;
    for (const p of this.products.values()) if (matchesFilter(p, filter)) n += 1;
    return n;
  }

  async findPending(): Promise<StoredProduct[]> {
    return [...this.pendingIds].flatMap((id) => {
      const product = this.products.get(id);
      return product ? [{ ...product }] : [];
    });
  }

  async ping(): Promise<void> {}

  private store(product: StoredProduct): void {
    const previous = this.products.get(product.id);
    if (previous) this.unstore(previous);
    this.products.set(product.id, product);
    this.nameKeys.set(product, textKey(product.name));
    for (const index of Object.values(this.indexes)) index.add(product);
    if (product.pending) this.pendingIds.add(product.id);
  }

  private unstore(product: StoredProduct): void {
    for (const index of Object.values(this.indexes)) index.remove(product);
    this.products.delete(product.id);
    this.pendingIds.delete(product.id);
  }
}
