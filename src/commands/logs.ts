import type { Ui } from './ui.js';
import type { DesiredState } from '../derive/types.js';
import { readJournal, splitCursor } from '../deploy/journal.js';
import { DistctlError } from '../errors/index.js';
import type { CommandResult as ProcessResult } from '../exec/runner.js';
import type { IncusClient } from '../incus/client.js';
import { IncusContainerOps, lastLines, type ContainerOps } from '../incus/container-ops.js';
import { loadDeployment } from './context.js';
import type { CommandResult } from './result.js';

/** Options of `distctl logs`, merged by the CLI. */
export interface LogsOptions {
  readonly file: string;
  readonly container: string;
  /** `web-server` or `web-server.service`; default the container's only unit. */
  readonly unit?: string;
  readonly lines: number;
  /** Keep printing new entries until `stopped` resolves. */
  readonly follow: boolean;
  readonly client: IncusClient;
  readonly ui: Ui;
  /** Where --follow writes entries as they arrive (the CLI passes stdout). */
  readonly write: (text: string) => void;
  /** Resolves when --follow should stop (Ctrl-C). */
  readonly stopped?: Promise<void>;
  /** How often --follow asks the journal for new entries (default 1 s). */
  readonly pollMs?: number;
  /** Reaches into the container; default over `incus exec` in the topology's project. */
  readonly ops?: ContainerOps;
}

/**
 * Picks the container and unit to read: the container must be in the
 * topology, the unit one of its units (a bare name gets `.service`); without
 * a unit, the container's only unit. Errors name what exists.
 */
export function resolveLogTarget(desired: DesiredState, containerName: string, unit?: string): { container: string; unit: string } {
  const container = desired.containers.find((candidate) => candidate.name === containerName);
  if (container === undefined) {
    throw new DistctlError('UNKNOWN_CONTAINER', `container "${containerName}" is not in the topology`, {
      hint: `Containers: ${desired.containers.map((candidate) => candidate.name).join(', ')}.`,
    });
  }
  const units = container.units.map((candidate) => candidate.name);
  const pick = `Pick one: ${units.map((name) => `\`distctl logs ${container.name} ${name}\``).join(', ')}.`;
  if (unit === undefined) {
    if (units.length === 1 && units[0] !== undefined) return { container: container.name, unit: units[0] };
    if (units.length === 0) {
      throw new DistctlError('NO_UNITS', `container ${container.name} runs no distctl units (no service or mongod is placed on it)`, {
        hint: `For anything else, read the journal directly: \`incus exec ${container.name} --project ${desired.project} -- journalctl -n 50\`.`,
      });
    }
    throw new DistctlError('UNIT_REQUIRED', `container ${container.name} runs ${units.length} units: ${units.join(', ')}`, { hint: pick });
  }
  const wanted = /\.(service|socket|timer|target|mount)$/.test(unit) ? unit : `${unit}.service`;
  if (!units.includes(wanted)) {
    throw new DistctlError('UNKNOWN_UNIT', `container ${container.name} has no distctl unit ${wanted}`, {
      hint: units.length > 0 ? `Its units: ${units.join(', ')}. ${pick}` : `It runs no distctl units.`,
    });
  }
  return { container: container.name, unit: wanted };
}

/** journalctl's output, or an error naming container and unit when it (or `incus exec`) failed. */
function journalText(result: ProcessResult, container: string, unit: string): { text: string; cursor: string | null } {
  const split = splitCursor(result.stdout);
  // journalctl exits 1 with "-- No entries --" for a unit that has not logged yet; that is an empty journal, not a failure.
  if (result.exitCode !== 0 && !(split.text === '' && /-- No entries --/.test(result.stdout))) {
    throw new DistctlError('LOGS_FAILED', `could not read the journal of ${unit} in container ${container} (exit ${result.exitCode})`, {
      details: lastLines(result, 8),
      hint: 'Check that the container runs (`distctl status`); `distctl up` starts it.',
    });
  }
  return split;
}

/**
 * `distctl logs CONTAINER [UNIT] [-n N] [-f]`: a unit's journal from inside
 * its container. `--follow` polls the journal by cursor, so it needs only
 * ordinary `incus exec` calls and stops cleanly on Ctrl-C.
 */
export async function logsCommand(options: LogsOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const target = resolveLogTarget(desired, options.container, options.unit);
  const ops = options.ops ?? new IncusContainerOps(options.client, desired.project);
  const toJsonLines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

  const first = journalText(await readJournal(ops, target.container, target.unit, { lines: options.lines, showCursor: options.follow }), target.container, target.unit);
  if (!options.follow) {
    return {
      exitCode: 0,
      human: first.text === '' ? `(no journal entries for ${target.unit} in ${target.container})` : first.text.replace(/\n$/, ''),
      json: { container: target.container, unit: target.unit, lines: toJsonLines(first.text) },
    };
  }

  const emit = (text: string): void => {
    if (text === '') return;
    options.write(options.ui.json ? toJsonLines(text).map((line) => `${JSON.stringify({ container: target.container, unit: target.unit, line })}\n`).join('') : text);
  };
  emit(first.text);
  let cursor = first.cursor;
  let stop = false;
  void options.stopped?.then(() => {
    stop = true;
  });
  while (!stop) {
    await Promise.race([new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1_000)), options.stopped]);
    if (stop) break;
    const next = journalText(
      await readJournal(ops, target.container, target.unit, cursor === null ? { lines: options.lines, showCursor: true } : { afterCursor: cursor }),
      target.container,
      target.unit,
    );
    emit(next.text);
    cursor = next.cursor ?? cursor;
  }
  return { exitCode: 0, human: '', json: { container: target.container, unit: target.unit, followed: true } };
}
