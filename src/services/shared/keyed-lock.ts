/**
 * Mutual exclusion per key within one process: operations on the same key
 * run one after another, in arrival order; different keys run concurrently.
 * The catalog serialises writes per product id with it, auth-server the
 * changes that could remove the last admin.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `task` once every earlier task on `key` has settled. */
  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await task();
    } finally {
      release();
      // The last in line removes the entry, so idle keys cost nothing.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
