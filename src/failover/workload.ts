/**
 * The write workload of a failover test: numbered inserts at a steady rate,
 * each one's fate recorded, and the means to check afterwards which of them
 * the replica set really kept and which members serve them.
 */
import type { MongoTarget } from '../mongo/admin.js';

/** Where the workload writes; the real one is a MongoDB collection written with w:"majority". */
export interface WriteTarget {
  /** Inserts write `seq`; resolves when the replica set acknowledged it. */
  insert(seq: number): Promise<void>;
  /** Every seq the set holds now, read from the primary with majority read concern. */
  presentSeqs(): Promise<Set<number>>;
  /** Whether `member` itself (a direct connection, no routing) already serves write `seq`. */
  readableOn(member: MongoTarget, seq: number): Promise<boolean>;
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
      const message = error instanceof Error ? error.message : String(error);
      records.push({ seq, sentAtMs: sentAt - started, latencyMs: now() - sentAt, outcome: 'failed', error: message });
    }
    const wait = options.intervalMs - (now() - sentAt);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return records;
}

/** Per-write latency across the whole run (acknowledged and failed writes alike), nearest-rank percentiles. */
export interface LatencyPercentiles {
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** The fate of every write, once the set has been read back. */
export interface WriteFates {
  readonly total: number;
  readonly acknowledged: number;
  readonly failed: number;
  /** Acknowledged with w:"majority" but not in the set: must be empty. Null when the set could not be read back. */
  readonly acknowledgedButLost: readonly number[] | null;
  /** Reported as failed, yet applied (the acknowledgement was lost, not the write). Null when not read back. */
  readonly failedButApplied: readonly number[] | null;
  /** Null when no write was sent. */
  readonly latency: LatencyPercentiles | null;
  /** The distinct errors seen, with how often. */
  readonly errors: Readonly<Record<string, number>>;
}

/** Compares what the workload was told with what the set holds (`present`; null when it could not be read). */
export function writeFates(records: readonly WriteRecord[], present: ReadonlySet<number> | null): WriteFates {
  const errors: Record<string, number> = {};
  for (const record of records) if (record.error) errors[record.error] = (errors[record.error] ?? 0) + 1;
  const acknowledged = records.filter((record) => record.outcome === 'acknowledged');
  const failed = records.filter((record) => record.outcome === 'failed');
  return {
    total: records.length,
    acknowledged: acknowledged.length,
    failed: failed.length,
    acknowledgedButLost:
      present === null ? null : acknowledged.filter((record) => !present.has(record.seq)).map((record) => record.seq),
    failedButApplied:
      present === null ? null : failed.filter((record) => present.has(record.seq)).map((record) => record.seq),
    latency: latencyPercentiles(records.map((record) => record.latencyMs)),
    errors,
  };
}

/** Nearest-rank percentiles: the smallest latency at or below which p % of the writes fall. */
export function latencyPercentiles(latencies: readonly number[]): LatencyPercentiles | null {
  if (latencies.length === 0) return null;
  const sorted = [...latencies].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  return { p50Ms: rank(50), p95Ms: rank(95), p99Ms: rank(99), maxMs: sorted[sorted.length - 1] ?? 0 };
}
