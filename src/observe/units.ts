import type { ContainerOps } from '../incus/container-ops.js';

/** A systemd unit as `systemctl show` reports it. */
export interface UnitState {
  readonly name: string;
  /** `loaded`, `not-found`, ... */
  readonly load: string;
  /** `active`, `inactive`, `failed`, `activating`, ... */
  readonly active: string;
  readonly sub: string;
  readonly mainPid: number;
  /** When the unit last became active (systemd's text), or null. */
  readonly since: string | null;
}

const PROPERTIES = ['Id', 'LoadState', 'ActiveState', 'SubState', 'MainPID', 'ActiveEnterTimestamp'];

/** The argv that reads every listed unit's state in one call. */
export function unitStateArgv(units: readonly string[]): string[] {
  return ['systemctl', 'show', `--property=${PROPERTIES.join(',')}`, '--', ...units];
}

/** Parses `systemctl show` output: blocks of Key=Value lines separated by blank lines, one per unit. */
export function parseUnitStates(output: string): UnitState[] {
  return output
    .split(/\n\s*\n/)
    .map((block) => Object.fromEntries(block.split('\n').filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])))
    .filter((fields) => fields.Id)
    .map((fields) => ({
      name: fields.Id ?? '',
      load: fields.LoadState ?? 'unknown',
      active: fields.ActiveState ?? 'unknown',
      sub: fields.SubState ?? 'unknown',
      mainPid: Number(fields.MainPID ?? 0),
      since: fields.ActiveEnterTimestamp ? fields.ActiveEnterTimestamp : null,
    }));
}

/**
 * Reads the state of the given units in one container with a single exec.
 * Units systemd does not report come back as `unknown`, never as an exception.
 */
export async function observeUnits(ops: ContainerOps, container: string, units: readonly string[]): Promise<UnitState[]> {
  if (units.length === 0) return [];
  const result = await ops.exec(container, unitStateArgv(units), { timeoutMs: 20_000 });
  const parsed = new Map(parseUnitStates(result.stdout).map((state) => [state.name, state]));
  return units.map((name) => parsed.get(name) ?? { name, load: 'unknown', active: 'unknown', sub: result.exitCode === 0 ? 'unknown' : `systemctl failed: ${result.stderr.trim().split('\n').pop() ?? ''}`, mainPid: 0, since: null });
}
