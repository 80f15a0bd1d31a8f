/**
 * A readers–writer gate between cross-shard moves and reads in this process.
 *
 * Reads fan out to all shards concurrently, so without it a listing could read
 * the target shard just before a move writes the new copy and the source shard
 * just after the move deleted the old one, and miss the product. A move holds
 * the gate exclusively only from "write the new copy" to "delete the old one"
 * (two single-document writes); reads hold it shared. Writers go first once
 * waiting, so steady reads cannot starve a move.
 */
export class MoveGate {
  private readers = 0;
  private writing = false;
  private writersWaiting = 0;
  private waiters: (() => void)[] = [];

  /** Runs a read; it waits while a move is between its two steps. */
  async shared<T>(read: () => Promise<T>): Promise<T> {
    while (this.writing || this.writersWaiting > 0) await this.wait();
    this.readers += 1;
    try {
      return await read();
    } finally {
      this.readers -= 1;
      this.wakeAll();
    }
  }

  /** Runs a move's critical steps with no read in flight. */
  async exclusive<T>(move: () => Promise<T>): Promise<T> {
    this.writersWaiting += 1;
    try {
      while (this.writing || this.readers > 0) await this.wait();
    } finally {
      this.writersWaiting -= 1;
    }
    this.writing = true;
    try {
      return await move();
    } finally {
      this.writing = false;
      this.wakeAll();
    }
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wakeAll(): void {
    const woken = this.waiters;
    this.waiters = [];
    for (const wake of woken) wake();
  }
}
