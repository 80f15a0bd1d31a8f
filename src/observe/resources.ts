import type { IncusInstance } from '../incus/types.js';

/**
 * What a container uses, from the instance state that the `incus list` call
 * observation already makes returns: no extra call. Figures are absent for a
 * container that is not running (a stopped container uses nothing; it is not
 * "0 % CPU"), and the root disk only where the storage driver tracks it.
 */
export interface ContainerResources {
  /** CPU time used since the container started, in seconds. */
  readonly cpuSeconds: number;
  readonly memoryBytes: number;
  /** `limits.memory` as Incus applies it; null when the container has no limit. */
  readonly memoryLimitBytes: number | null;
  /** Root disk used; null when the storage driver does not report it (e.g. btrfs without quotas). */
  readonly diskBytes: number | null;
  readonly processes: number;
}

/** A container's resource figures, or null when it is not running (or Incus gave no state). */
export function instanceResources(instance: IncusInstance | undefined): ContainerResources | null {
  const state = instance?.state;
  if (instance?.status !== 'Running' || state === null || state === undefined) return null;
  // Without limits.memory Incus reports the host's memory as the total: that is no limit of the container's.
  const limited = (instance.expanded_config ?? instance.config)['limits.memory'] !== undefined;
  const limit = state.memory?.total ?? 0;
  const rootUsage = state.disk?.root?.usage;
  return {
    cpuSeconds: (state.cpu?.usage ?? 0) / 1e9,
    memoryBytes: state.memory?.usage ?? 0,
    memoryLimitBytes: limited && limit > 0 ? limit : null,
    diskBytes: typeof rootUsage === 'number' ? rootUsage : null,
    processes: state.processes ?? 0,
  };
}

/**
 * CPU use between two readings as a share of one core (1.0 = a whole core),
 * for `status --watch`. Null without an earlier reading, or when the counter
 * went backwards (the container restarted in between).
 */
export function cpuRate(previous: number | null, current: number, elapsedSeconds: number): number | null {
  if (previous === null || elapsedSeconds <= 0 || current < previous) return null;
  return (current - previous) / elapsedSeconds;
}

/** `1.5 GiB`, `512 MiB`, `38.2 MiB`: binary units, three significant figures at most. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 || value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  // Trailing zeros go only after a decimal point: 100 MiB stays 100, 1.50 GiB becomes 1.5.
  return `${shown.includes('.') ? shown.replace(/\.?0+$/, '') : shown} ${units[unit]}`;
}

/** One TCP socket listening inside a container, as `ss -Hltn` prints it. */
export interface Listener {
  readonly address: string;
  readonly port: number;
}

/**
 * Parses `ss -Hltn` (no header; columns State, Recv-Q, Send-Q, Local, Peer):
 * `LISTEN 0 4096 10.10.10.12:27017 0.0.0.0:*`, `LISTEN 0 511 *:3000 *:*`,
 * `LISTEN 0 128 [::]:22 [::]:*`. Lines it does not understand are skipped.
 */
export function parseListeners(output: string): Listener[] {
  const listeners: Listener[] = [];
  for (const line of output.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    if (local === undefined) continue;
    const match = /^(.*):(\d+)$/.exec(local);
    if (match === null) continue;
    const address = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
    listeners.push({ address, port: Number(match[2]) });
  }
  return listeners;
}

const WILDCARDS = new Set(['*', '0.0.0.0', '::']);

/**
 * Whether a declared port is served the way the platform reaches it: a
 * listener on that port bound to the container's own address or to all
 * addresses. A mongod bound only to 127.0.0.1 is not served to its peers.
 */
export function portServed(listeners: readonly Listener[], port: number, containerIp: string): boolean {
  return listeners.some(
    (listener) => listener.port === port && (WILDCARDS.has(listener.address) || listener.address === containerIp),
  );
}
