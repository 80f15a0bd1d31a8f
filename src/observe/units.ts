import type { ContainerOps } from '../incus/container-ops.js';
import { parseListeners, type Listener } from './resources.js';

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

/** Parses `systemctl show` output: blocks of Key=Value lines separated by blank lines, one per unit. */
export function parseUnitStates(output: string): UnitState[] {
  return output
    .split(/\n\s*\n/)
    .map((block) =>
      Object.fromEntries(
        block
          .split('\n')
          .filter((line) => line.includes('='))
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      ),
    )
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

/** Separates the unit states from the listeners in the output of containerProbeArgv. */
const LISTENERS_MARK = '--distctl-listeners--';

/**
 * The argv of the one exec status makes per container: every listed unit's
 * state (`systemctl show`), then the TCP listeners (`ss -Hltn`). Unit names
 * are positional arguments, never part of the script text.
 */
export function containerProbeArgv(units: readonly string[]): string[] {
  const script = `systemctl show --property=${PROPERTIES.join(',')} -- "$@"; echo ${LISTENERS_MARK}; ss -Hltn`;
  return ['sh', '-c', script, 'distctl-status', ...units];
}

/** What one probe of a container found: its units' states and, when `ss` answered, its TCP listeners. */
export interface ContainerProbe {
  readonly units: UnitState[];
  /** Null when the listeners could not be read (no `ss`, exec failed). */
  readonly listeners: Listener[] | null;
}

/**
 * Reads the state of the given units and the container's TCP listeners with a
 * single exec. Units systemd does not report come back as `unknown`, never as
 * an exception.
 */
export async function probeContainer(
  ops: ContainerOps,
  container: string,
  units: readonly string[],
): Promise<ContainerProbe> {
  if (units.length === 0) return { units: [], listeners: null };
  const result = await ops.exec(container, containerProbeArgv(units), { timeoutMs: 20_000 });
  const mark = result.stdout.indexOf(`${LISTENERS_MARK}\n`);
  const unitText = mark === -1 ? result.stdout : result.stdout.slice(0, mark);
  const listenerText = mark === -1 ? null : result.stdout.slice(mark + LISTENERS_MARK.length + 1);
  const parsed = new Map(parseUnitStates(unitText).map((state) => [state.name, state]));
  const failure = `systemctl failed: ${result.stderr.trim().split('\n').pop() ?? ''}`;
  return {
    units: units.map(
      (name) =>
        parsed.get(name) ?? {
          name,
          load: 'unknown',
          active: 'unknown',
          sub: mark === -1 && result.exitCode !== 0 ? failure : 'unknown',
          mainPid: 0,
          since: null,
        },
    ),
    // ss exits 0 with its listeners; a missing ss makes the script exit 127, with the units still read.
    listeners: listenerText === null || result.exitCode !== 0 ? null : parseListeners(listenerText),
  };
}
