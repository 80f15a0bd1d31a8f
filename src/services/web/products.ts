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
}

/** Fields listings can sort by. */
export type SortField = 'name' | 'price' | 'stock';

/** A listing filter: both parts optional, matched case- and accent-insensitively. */
export interface ProductFilter {
  /** Substring of the name. */
  readonly nameContains?: string;
  /** Whole category. */
  readonly category?: string;
}

/** One shard's part of a listing: the first `limit` matches in `sort` order (ties by id). */
export interface ShardQuery {
  readonly filter: ProductFilter;
  readonly sort: { readonly field: SortField; readonly direction: 1 | -1 };
  readonly limit: number;
}

/** Persistence for one shard. Implementations throw StoreUnavailableError when the shard is down. */
export interface ProductShardStore {
  /** Replica-set name, as shown in responses and 503s. */
  readonly shard: string;
  /** Inserts or replaces the product with this id. */
  put(product: StoredProduct): Promise<void>;
  findById(id: string): Promise<StoredProduct | null>;
  /** Replaces an existing product (same shard update); false if it is no longer here. */
  replace(product: StoredProduct): Promise<boolean>;
  /** Removes a product; false if it was not here. */
  delete(id: string): Promise<boolean>;
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
 * across shards. `nameKeyOf` lets a caller supply cached keys.
 */
export function compareProducts(
  sort: ShardQuery['sort'],
  nameKeyOf: (product: StoredProduct) => string = (product) => textKey(product.name),
): (a: StoredProduct, b: StoredProduct) => number {
  return (a, b) => {
    const primary = sort.field === 'name' ? compareCodePoints(nameKeyOf(a), nameKeyOf(b)) : a[sort.field] - b[sort.field];
    if (primary !== 0) return primary * sort.direction;
    return compareCodePoints(a.id, b.id);
  };
}

/** Whether a product matches a filter whose parts are already textKey'd. */
export function matchesFilter(product: StoredProduct, filter: ProductFilter): boolean {
  if (filter.nameContains !== undefined && !textKey(product.name).includes(filter.nameContains)) return false;
  if (filter.category !== undefined && textKey(product.category) !== filter.category) return false;
  return true;
}

/** ProductShardStore in a Map: for tests and the bench. */
export class MemoryProductShardStore implements ProductShardStore {
  private readonly products = new Map<string, StoredProduct>();
  /** textKey of each stored name, so sorting does not normalise on every comparison. */
  private readonly nameKeys = new WeakMap<StoredProduct, string>();

  constructor(readonly shard: string) {}

  async put(product: StoredProduct): Promise<void> {
    this.store({ ...product });
  }

  async findById(id: string): Promise<StoredProduct | null> {
    const product = this.products.get(id);
    return product ? { ...product } : null;
  }

  async replace(product: StoredProduct): Promise<boolean> {
    if (!this.products.has(product.id)) return false;
    this.store({ ...product });
    return true;
  }

  async delete(id: string): Promise<boolean> {
    return this.products.delete(id);
  }

  async clearPending(id: string): Promise<void> {
    const product = this.products.get(id);
    if (product?.pending) this.store({ ...product, pending: null });
  }

  async query(query: ShardQuery): Promise<StoredProduct[]> {
    return [...this.products.values()]
      .filter((p) => matchesFilter(p, query.filter))
      .sort(compareProducts(query.sort, (p) => this.nameKeys.get(p) ?? textKey(p.name)))
      .slice(0, query.limit)
      .map((p) => ({ ...p }));
  }

  async count(filter: ProductFilter): Promise<number> {
    let n = 0;
    for (const p of this.products.values()) if (matchesFilter(p, filter)) n += 1;
    return n;
  }

  async findPending(): Promise<StoredProduct[]> {
    return [...this.products.values()].filter((p) => p.pending !== null).map((p) => ({ ...p }));
  }

  async ping(): Promise<void> {}

  private store(product: StoredProduct): void {
    this.products.set(product.id, product);
    this.nameKeys.set(product, textKey(product.name));
  }
}
