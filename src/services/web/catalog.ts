/**
 * The sharded product catalog: routes each product to its shard, reads all
 * shards concurrently, and moves products between shards on rename.
 *
 * ## Cross-shard move protocol (rename into another range)
 *
 * Shards are independent replica sets, so there is no transaction spanning
 * them. A move of product P from shard S to shard T is three single-document
 * writes:
 *
 *   (a) put P's new version on T, marked `pending: {from: S}`
 *   (b) delete P from S                      ← the commit point
 *   (c) clear the pending mark on T
 *
 * Which copy is P (the rule every reader applies, `resolveCopies`):
 *   - a copy without a pending mark wins;
 *   - a pending copy (from S) counts only once S no longer holds P.
 * So before (b) readers see the old version on S, after (b) the new one on T:
 * never both, never neither. (a) and (b) run under the MoveGate so a read of
 * this process cannot straddle them; see move-gate.ts.
 *
 * Crash repair: a request that touches P (get, update, delete, list) and finds
 * it half-moved finishes the move — after (a): delete from S, clear T; after
 * (b): clear T. Moves only go forward, so a retried rename converges.
 * Because a stale pending copy would "win" once its source copy is deleted,
 * deleting P or moving it again needs every shard reachable (to find and
 * remove any such copy first); plain reads and same-shard updates do not.
 *
 * Known limit: the MoveGate is per process. With several web-server
 * processes a listing racing another process's move can, for that one
 * request, miss the product or count it twice; gets and later reads are
 * unaffected.
 */
import { randomUUID } from 'node:crypto';
import { ApiError, StoreUnavailableError, unavailableError } from '../shared/errors.js';
import { KeyedLock } from '../shared/keyed-lock.js';
import { MoveGate } from './move-gate.js';
import {
  compareProducts,
  textKey,
  type ProductChanges,
  type ProductFilter,
  type ProductShardStore,
  type ShardQuery,
  type SortField,
  type StoredProduct,
} from './products.js';
import type { ShardRouter } from './shard-router.js';

/** A product as clients see it: with the shard that holds it. */
export interface ProductView {
  readonly id: string;
  readonly name: string;
  readonly price: number;
  readonly stock: number;
  readonly category: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly shard: string;
  /** Sent back as If-Match (ETag `"<version>"`) to update only the version the client saw. */
  readonly version: number;
}

/** The fields a client sets. */
export interface ProductInput {
  readonly name: string;
  readonly price: number;
  readonly stock: number;
  readonly category: string;
}

/** A listing request, already validated. */
export interface ListRequest {
  readonly nameContains?: string;
  readonly category?: string;
  readonly sort: SortField;
  readonly direction: 1 | -1;
  readonly page: number;
  readonly pageSize: number;
}

/** One merged page. `partial` when some shards did not answer; their products are missing. */
export interface ProductPage {
  readonly items: ProductView[];
  readonly page: number;
  readonly pageSize: number;
  readonly total: number;
  readonly partial: boolean;
  readonly missingShards: string[];
}

/** A copy of a product found on one shard. */
interface Copy {
  readonly shard: string;
  readonly product: StoredProduct;
}

/** What the shards said about one id. */
interface Located {
  readonly copies: Copy[];
  readonly unreachable: string[];
}

/** Which copy is the product, per the rule in the module comment. */
export type Resolution =
  | {
      readonly state: 'found';
      readonly current: Copy;
      readonly halfMoved: { readonly pending: Copy; readonly sourceHasCopy: boolean } | null;
    }
  | { readonly state: 'missing' }
  | { readonly state: 'unknown'; readonly unreachable: string[] };

function newest(copies: Copy[]): Copy {
  return copies.reduce((a, b) => (b.product.updatedAt > a.product.updatedAt ? b : a));
}

/** Applies the "which copy is the product" rule to what the shards returned for one id. */
export function resolveCopies(located: Located): Resolution {
  const settled = located.copies.filter((c) => c.product.pending === null);
  const pending = located.copies.filter((c) => c.product.pending !== null);
  if (settled.length > 0) {
    const current = newest(settled);
    const moving = pending.find((c) => c.product.pending?.from === current.shard);
    return { state: 'found', current, halfMoved: moving ? { pending: moving, sourceHasCopy: true } : null };
  }
  if (pending.length > 0) {
    const candidate = newest(pending);
    const from = candidate.product.pending?.from ?? '';
    if (located.unreachable.includes(from)) return { state: 'unknown', unreachable: [from] };
    return { state: 'found', current: candidate, halfMoved: { pending: candidate, sourceHasCopy: false } };
  }
  return located.unreachable.length > 0 ? { state: 'unknown', unreachable: located.unreachable } : { state: 'missing' };
}

/** Deepest item a listing may reach (page × pageSize): bounds what each shard must return. */
export const MAX_LISTING_DEPTH = 10_000;

/** The sharded catalog. Handlers call it; it throws ApiError for 404/503. */
export class ProductCatalog {
  private readonly stores: Map<string, ProductShardStore>;
  private readonly gate = new MoveGate();
  /** Writes to one product (update, move, delete) run one at a time in this process. */
  private readonly writes = new KeyedLock();

  constructor(
    private readonly router: ShardRouter,
    stores: readonly ProductShardStore[],
    private readonly now: () => Date,
    private readonly newId: () => string = randomUUID,
    /** Told of every committed cross-shard move and every half-done move this process finished (for /metrics). */
    private readonly onShardMove: (event: 'moved' | 'repaired') => void = () => undefined,
  ) {
    this.stores = new Map(stores.map((s) => [s.shard, s]));
    const missing = router.shards.filter((s) => !this.stores.has(s));
    if (missing.length > 0) throw new Error(`no store for shard(s) ${missing.join(', ')}`);
  }

  /** Every shard and whether it answers a ping. */
  async shardHealth(): Promise<Record<string, boolean>> {
    const results = await this.fanOut((store) => store.ping());
    return Object.fromEntries(results.map((r) => [r.shard, r.ok]));
  }

  async create(input: ProductInput): Promise<ProductView> {
    const at = this.now();
    const product: StoredProduct = {
      id: this.newId(),
      ...input,
      createdAt: at,
      updatedAt: at,
      pending: null,
      version: 1,
    };
    const shard = this.router.shardFor(input.name);
    await this.write(shard, 'create the product', (store) => store.put(product));
    return view({ shard, product });
  }

  async get(id: string): Promise<ProductView> {
    return view(await this.gate.shared(async () => this.settle(id, await this.locate(id), 'read')));
  }

  /**
   * Changes some fields. Only those fields are written ($set), so concurrent
   * changes to different fields both survive. With `expectedVersion` (the
   * client's If-Match), a product changed since the client read it is left
   * alone and the answer is 409 VERSION_CONFLICT carrying the current product.
   */
  async update(id: string, changes: ProductChanges, expectedVersion: number | null = null): Promise<ProductView> {
    return this.writes.run(id, async () => {
      const located = await this.gate.shared(() => this.locate(id));
      const current = await this.settle(id, located, 'write');
      if (expectedVersion !== null && current.product.version !== expectedVersion) throw conflict(current);
      const target = this.router.shardFor(changes.name ?? current.product.name);
      if (target === current.shard) {
        const outcome = await this.write(target, 'update the product', (store) =>
          store.update(id, changes, this.now(), expectedVersion),
        );
        if (outcome.state === 'missing') throw notFound(id);
        if (outcome.state === 'conflict') throw conflict({ shard: target, product: outcome.current });
        return view({ shard: target, product: outcome.product });
      }
      requireAllShards(located, 'moving a renamed product to its new shard');
      const product: StoredProduct = {
        ...current.product,
        ...changes,
        updatedAt: this.now(),
        version: current.product.version + 1,
        pending: null,
      };
      await this.move(product, current, target);
      return view({ shard: target, product });
    });
  }

  /**
   * Removes every copy of a product, each deletion checked: a copy that
   * changed or moved meanwhile (another web-server process) is looked up
   * again instead of being reported deleted while it survives.
   */
  async delete(id: string, expectedVersion: number | null = null): Promise<void> {
    await this.writes.run(id, async () => {
      for (let attempt = 1; attempt <= DELETE_ATTEMPTS; attempt += 1) {
        const located = await this.gate.shared(() => this.locate(id));
        requireAllShards(located, 'deleting a product');
        if (located.copies.length === 0) {
          if (attempt > 1) return;
          throw notFound(id);
        }
        const resolution = resolveCopies(located);
        if (
          expectedVersion !== null &&
          resolution.state === 'found' &&
          resolution.current.product.version !== expectedVersion
        ) {
          throw conflict(resolution.current);
        }
        // Pending copies first: deleted before their source, they could never win.
        const ordered = [...located.copies].sort(
          (a, b) => Number(b.product.pending !== null) - Number(a.product.pending !== null),
        );
        let allRemoved = true;
        for (const copy of ordered) {
          const removed = await this.write(copy.shard, 'delete the product', (store) =>
            store.delete(id, copy.product.version),
          );
          allRemoved &&= removed;
        }
        if (allRemoved) return;
      }
      throw new ApiError(409, 'PRODUCT_BUSY', `product ${id} kept changing while being deleted; retry`);
    });
  }

  async list(request: ListRequest): Promise<ProductPage> {
    return this.gate.shared(async () => {
      const filter: ProductFilter = {
        ...(request.nameContains ? { nameContains: textKey(request.nameContains) } : {}),
        ...(request.category ? { category: textKey(request.category) } : {}),
      };
      const sort = { field: request.sort, direction: request.direction } as const;
      const offset = (request.page - 1) * request.pageSize;
      const query: ShardQuery = { filter, sort, limit: offset + request.pageSize };

      let reads = await this.readListing(query);
      const halfMoved = reads.flatMap((r) => (r.ok ? r.value.pending : []));
      if (halfMoved.length > 0) {
        // Finish interrupted moves first so the page is read from a settled state.
        for (const id of new Set(halfMoved.map((p) => p.id))) await this.repairQuietly(id);
        reads = await this.readListing(query);
      }

      const missingShards = reads.filter((r) => !r.ok).map((r) => r.shard);
      let total = 0;
      const candidates: Copy[] = [];
      for (const read of reads) {
        if (!read.ok) continue;
        total += read.value.count;
        for (const product of read.value.page) candidates.push({ shard: read.shard, product });
      }
      // A pending copy still here belongs to a move in flight elsewhere, or could not be repaired:
      // show it only if the rule says it is the product.
      const visible: Copy[] = [];
      for (const copy of candidates) {
        if (copy.product.pending === null || (await this.isCurrent(copy))) visible.push(copy);
        else total -= 1;
      }
      // Each shard's part is already in order: merge them, reading no further than the page's end.
      const order = compareProducts(sort);
      const merged = mergeSorted(
        this.router.shards.map((shard) => visible.filter((c) => c.shard === shard)),
        (a, b) => order(a.product, b.product),
        offset + request.pageSize,
      );
      return {
        items: merged.slice(offset).map(view),
        page: request.page,
        pageSize: request.pageSize,
        total,
        partial: missingShards.length > 0,
        missingShards,
      };
    });
  }

  /**
   * Resolves an id and repairs a half-moved product. If the repair cannot
   * finish (a shard down), a read still gets the copy the rule picks, but a
   * write gets the 503: writing onto a half-moved product would be
   * overwritten when the move completes.
   */
  private async settle(id: string, located: Located, purpose: 'read' | 'write'): Promise<Copy> {
    const resolution = resolveCopies(located);
    if (resolution.state === 'missing') throw notFound(id);
    if (resolution.state === 'unknown')
      throw unavailableError(resolution.unreachable, `cannot tell where product ${id} is`);
    if (!resolution.halfMoved) return resolution.current;
    try {
      const finished = await this.finishMove(resolution.halfMoved.pending, resolution.halfMoved.sourceHasCopy);
      this.onShardMove('repaired');
      return finished;
    } catch (err) {
      if (purpose === 'read' && err instanceof ApiError) return resolution.current;
      throw err;
    }
  }

  /** Steps (b) and (c) of a move whose (a) is done; returns the product's copy afterwards. */
  private async finishMove(pending: Copy, sourceHasCopy: boolean): Promise<Copy> {
    const from = pending.product.pending?.from ?? '';
    if (sourceHasCopy)
      await this.write(from, `finish moving product ${pending.product.id} off ${from}`, (store) =>
        store.delete(pending.product.id),
      );
    await this.write(pending.shard, `finish moving product ${pending.product.id} onto ${pending.shard}`, (store) =>
      store.clearPending(pending.product.id),
    );
    return { shard: pending.shard, product: { ...pending.product, pending: null } };
  }

  /**
   * Moves `source` to shard `to` as `product`. Step 2 deletes exactly the
   * version that was read: if nothing was deleted, the source changed or was
   * deleted meanwhile (by another process), so step 1 is undone and the answer
   * is 409 with the current product, or 404 — never a copy that outlives a delete.
   */
  private async move(product: StoredProduct, source: Copy, to: string): Promise<void> {
    const from = source.shard;
    const moving: StoredProduct = { ...product, pending: { from } };
    const committed = await this.gate.exclusive(async () => {
      await this.write(to, `move product ${product.id} (step 1 of 3: copy to ${to})`, (store) => store.put(moving));
      return this.write(
        from,
        `move product ${product.id} (step 2 of 3: remove from ${from}; completes on next access)`,
        (store) => store.delete(product.id, source.product.version),
      );
    });
    if (!committed) {
      await this.write(to, `undo moving product ${product.id} onto ${to}`, (store) =>
        store.delete(product.id, moving.version),
      );
      const now = resolveCopies(await this.locate(product.id));
      if (now.state === 'found') throw conflict(now.current);
      throw notFound(product.id);
    }
    this.onShardMove('moved');
    // Step (c) failing leaves a committed move with a mark: readers already see the new copy; the next touch clears it.
    await this.storeFor(to)
      .clearPending(product.id)
      .catch((err: unknown) => {
        if (!(err instanceof StoreUnavailableError)) throw err;
      });
  }

  /** Whether a pending copy seen in a listing is the product right now. */
  private async isCurrent(copy: Copy): Promise<boolean> {
    const resolution = resolveCopies(await this.locate(copy.product.id));
    return resolution.state === 'found' && resolution.current.shard === copy.shard;
  }

  private async repairQuietly(id: string): Promise<void> {
    try {
      await this.settle(id, await this.locate(id), 'read');
    } catch (err) {
      // A listing still answers when a repair cannot run; the rule keeps it consistent meanwhile.
      if (!(err instanceof ApiError)) throw err;
    }
  }

  private async locate(id: string): Promise<Located> {
    const results = await this.fanOut((store) => store.findById(id));
    const copies: Copy[] = [];
    const unreachable: string[] = [];
    for (const r of results) {
      if (!r.ok) unreachable.push(r.shard);
      else if (r.value) copies.push({ shard: r.shard, product: r.value });
    }
    return { copies, unreachable };
  }

  private readListing(query: ShardQuery) {
    return this.fanOut(async (store) => {
      const [page, count, pending] = await Promise.all([
        store.query(query),
        store.count(query.filter),
        store.findPending(),
      ]);
      return { page, count, pending };
    });
  }

  /** Runs `operation` on every shard concurrently; unreachable shards are reported, other errors thrown. */
  private async fanOut<T>(operation: (store: ProductShardStore) => Promise<T>): Promise<ShardResult<T>[]> {
    return Promise.all(
      this.router.shards.map(async (shard): Promise<ShardResult<T>> => {
        try {
          return { shard, ok: true, value: await operation(this.storeFor(shard)) };
        } catch (err) {
          if (err instanceof StoreUnavailableError) return { shard, ok: false, error: err };
          throw err;
        }
      }),
    );
  }

  /** One write on one shard; an outage becomes a 503 naming the shard and what was being done. */
  private async write<T>(shard: string, what: string, operation: (store: ProductShardStore) => Promise<T>): Promise<T> {
    try {
      return await operation(this.storeFor(shard));
    } catch (err) {
      if (err instanceof StoreUnavailableError) throw unavailableError([shard], `could not ${what}`);
      throw err;
    }
  }

  private storeFor(shard: string): ProductShardStore {
    const store = this.stores.get(shard);
    if (!store) throw new Error(`no store for shard ${shard}`);
    return store;
  }
}

type ShardResult<T> =
  | { readonly shard: string; readonly ok: true; readonly value: T }
  | { readonly shard: string; readonly ok: false; readonly error: StoreUnavailableError };

function requireAllShards(located: Located, what: string): void {
  if (located.unreachable.length > 0) {
    throw unavailableError(
      located.unreachable,
      `${what} needs every shard (to rule out a copy left by an interrupted move)`,
    );
  }
}

/** How often a delete looks again when a copy changed under it. */
const DELETE_ATTEMPTS = 3;

/** 409 with the product as it is now, so the client can show it and retry deliberately. */
function conflict(current: Copy): ApiError {
  return new ApiError(
    409,
    'VERSION_CONFLICT',
    `product ${current.product.id} was changed by someone else (now version ${current.product.version}); nothing was saved — review the current values and retry`,
    { extra: { current: view(current) } },
  );
}

/**
 * The first `limit` items of several lists each sorted by `compare`, in that
 * order: a k-way merge costing O(limit × lists), not a sort of everything.
 */
export function mergeSorted<T>(lists: readonly (readonly T[])[], compare: (a: T, b: T) => number, limit: number): T[] {
  const positions = lists.map(() => 0);
  const merged: T[] = [];
  while (merged.length < limit) {
    let best = -1;
    for (let i = 0; i < lists.length; i += 1) {
      const candidate = lists[i]?.[positions[i] ?? 0];
      if (candidate === undefined) continue;
      const bestItem = best < 0 ? undefined : lists[best]?.[positions[best] ?? 0];
      if (bestItem === undefined || compare(candidate, bestItem) < 0) best = i;
    }
    if (best < 0) break;
    merged.push(lists[best]?.[positions[best] ?? 0] as T);
    positions[best] = (positions[best] ?? 0) + 1;
  }
  return merged;
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'PRODUCT_NOT_FOUND', `no product with id ${id}`);
}

function view(copy: Copy): ProductView {
  const p = copy.product;
  return {
    id: p.id,
    name: p.name,
    price: p.price,
    stock: p.stock,
    category: p.category,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
    shard: copy.shard,
    version: p.version,
  };
}
