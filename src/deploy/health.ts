import type { DerivedService } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { NotOnHostNetworkError } from '../exec/reach.js';
import type { ContainerOps } from '../incus/container-ops.js';
import { journalTail } from './journal.js';

/** A unit's lifecycle as systemd reports it. */
export interface UnitState {
  readonly activeState: string;
  readonly subState: string;
  /** How often systemd restarted it automatically since it was last started by hand. */
  readonly restarts: number;
}

/** Reads ActiveState, SubState and NRestarts of a unit in one `systemctl show`. */
export async function readUnitState(ops: ContainerOps, container: string, unit: string): Promise<UnitState> {
  const result = await ops.exec(
    container,
    ['systemctl', 'show', unit, '-p', 'ActiveState', '-p', 'SubState', '-p', 'NRestarts'],
    { timeoutMs: 30_000 },
  );
  return parseUnitState(result.stdout);
}

/** `ActiveState=active SubState=running NRestarts=0`, one per line or space-separated, as a UnitState. */
export function parseUnitState(text: string): UnitState {
  const values = new Map(
    text
      .split(/\s+/)
      .filter((pair) => pair.includes('='))
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const),
  );
  return {
    activeState: values.get('ActiveState') || 'unknown',
    subState: values.get('SubState') || 'unknown',
    restarts: Number(values.get('NRestarts') ?? 0) || 0,
  };
}

/** Options of waitForHealth. */
export interface HealthWaitOptions {
  readonly ops: ContainerOps;
  readonly fetch: typeof fetch;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /**
   * Automatic restarts the unit is allowed to have had before a crash counts:
   * 0 right after distctl (re)started it; unset to take whatever the first
   * look finds (a service left running).
   */
  readonly restartBaseline?: number;
  /**
   * How long after the wait began a 200 counts (default 0). Right after a
   * restart a 200 may come from a process that holds the port while the new
   * one is failing to bind it; by then systemd has seen that process exit.
   */
  readonly settleMs?: number;
  /**
   * The unit's state as just read by the caller (the deploy probe, for a
   * service it did not restart): the first look uses it instead of an exec.
   */
  readonly firstState?: UnitState;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** One GET of `/health` with its own short deadline; true only on HTTP 200. */
async function answersHealthy(fetchImpl: typeof fetch, url: string): Promise<boolean> {
  try {
    const response = await fetchImpl(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch (error) {
    // Not a service that is slow to answer: waiting would change nothing.
    if (error instanceof NotOnHostNetworkError) {
      throw new DistctlError('HOST_NOT_ON_NETWORK', `cannot check ${url}/health from this host: ${error.message}`, {
        hint: 'On an Incus cluster, give the host running distctl an address on the deployment network (docs/cluster.md).',
      });
    }
    return false;
  }
}

/**
 * Polls the service's `/health` from the host over the bridge until it
 * answers 200 while systemd reports the unit active. Gives up early when systemd reports the process crashed
 * (failed, or restarted automatically) and otherwise after `timeoutMs`;
 * either way the error names the container and carries the unit's last 20
 * journal lines. Returns the seconds it took.
 */
export async function waitForHealth(service: DerivedService, options: HealthWaitOptions): Promise<number> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const started = now();
  let baseline = options.restartBaseline;
  let known = options.firstState;
  for (;;) {
    const healthy = await answersHealthy(options.fetch, service.url);
    const state = known ?? (await readUnitState(options.ops, service.container, service.unitName));
    known = undefined;
    baseline ??= state.restarts;
    const crashed = state.activeState === 'failed' || state.restarts > baseline;
    const elapsed = now() - started;
    if (healthy && !crashed && state.activeState === 'active' && elapsed >= (options.settleMs ?? 0))
      return elapsed / 1000;
    if (crashed || elapsed >= options.timeoutMs) {
      const why = crashed
        ? `its process exited${state.restarts > 0 ? ` and systemd restarted it ${state.restarts} time${state.restarts === 1 ? '' : 's'}` : ''} (unit ${state.activeState}/${state.subState})`
        : `${service.url}/health did not answer 200 within ${Math.round(options.timeoutMs / 1000)} s (unit ${state.activeState}/${state.subState})`;
      throw new DistctlError(
        'SERVICE_UNHEALTHY',
        `service ${service.name} in container ${service.container} is not healthy: ${why}`,
        {
          details: [
            `last journal lines of ${service.unitName}:`,
            ...(await journalTail(options.ops, service.container, service.unitName, 20)).map((line) => `  ${line}`),
          ],
          hint: `Fix the cause shown in the journal, then run \`distctl deploy\` again. More: \`distctl logs ${service.container} ${service.unitName}\`.`,
        },
      );
    }
    await sleep(options.intervalMs ?? 500);
  }
}
