/**
 * The write workload of a failover test: numbered inserts at a steady rate,
 * each one's fate recorded, and the means to check afterwards which of them
 * the replica set really kept.
 */

/** Where the workload writes; the real one is a MongoDB collection written with w:"majority". */
export interface WriteTarget {
  /** Inserts write `seq`; resolves when the replica set acknowledged it. */
  insert(seq: number): Promise<void>;
  /** Every seq the set holds now, read from the primary with majority read concern. */
  presentSeqs(): Promise<Set<number>>;
  /** Whether a secondary already serves write `seq`. */
  readableOnSecondary(seq: number): Promise<boolean>;
  /** Removes what the workload wrote and disconnects. */
  close(): Promise<void>;
}

/** One write and what became of it. */
export interface WriteRecord {
  readonly seq: number;
  /** Milliseconds since the workload started. */
  readonly sentAtMs: number;
  readonly latencyMs: number;
  readonly outcome: 'acknowledged' | 'failed';
  readonly error?: string;
}

/** Runs numbered inserts one after another, at most one every `intervalMs`, until `stopped()` says so. */
export async function runWorkload(
  target: WriteTarget,
  options: { readonly intervalMs: number; readonly stopped: () => boolean; readonly now?: () => number },
): Promise<WriteRecord[]> {
  const now = options.now ?? Date.now;
  const started = now();
  const records: WriteRecord[] = [];
  for (let seq = 1; !options.stopped(); seq++) {
    const sentAt = now();
    try {
      await target.insert(seq);
      records.push({ seq, sentAtMs: sentAt - started, latencyMs: now() - sentAt, outcome: 'acknowledged' });
    } catch (error) {
      records.push({ seq, sentAtMs: sentAt - started, latencyMs: now() - sentAt, outcome: 'failed', error: error instanceof Error ? error.message : String(error) });
    }
    const wait = options.intervalMs - (now() - sentAt);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return records;
}

/** The fate of every write, once the set has been read back. */
export interface WriteFates {
  readonly total: number;
  readonly acknowledged: number;
  readonly failed: number;
  /** Acknowledged with w:"majority" but not in the set: must be empty. */
  readonly acknowledgedButLost: readonly number[];
  /** Reported as failed, yet applied (the acknowledgement was lost, not the write). */
  readonly failedButApplied: readonly number[];
  readonly maxLatencyMs: number;
  /** The distinct errors seen, with how often. */
  readonly errors: Readonly<Record<string, number>>;
}

/** Compares what the workload was told with what the set holds. */
export function writeFates(records: readonly WriteRecord[], present: ReadonlySet<number>): WriteFates {
  const errors: Record<string, number> = {};
  for (const record of records) if (record.error) errors[record.error] = (errors[record.error] ?? 0) + 1;
  return {
    total: records.length,
    acknowledged: records.filter((record) => record.outcome === 'acknowledged').length,
    failed: records.filter((record) => record.outcome === 'failed').length,
    acknowledgedButLost: records.filter((record) => record.outcome === 'acknowledged' && !present.has(record.seq)).map((record) => record.seq),
    failedButApplied: records.filter((record) => record.outcome === 'failed' && present.has(record.seq)).map((record) => record.seq),
    maxLatencyMs: records.reduce((max, record) => Math.max(max, record.latencyMs), 0),
    errors,
  };
}
