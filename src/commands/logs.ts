import type { Ui } from './ui.js';
import type { DesiredState } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { IncusContainerOps, lastLines, type ContainerOps } from '../incus/container-ops.js';
import {
  logReadArgv,
  logSources,
  mergeLogEntries,
  parseLogRead,
  parseSince,
  readableMessage,
  type ContainerLogSources,
  type LogEntry,
  type LogPosition,
  type LogQuery,
} from '../observe/logs.js';
import { loadDeployment } from './context.js';
import type { CommandResult } from './result.js';

/** Options of `distctl logs`, merged by the CLI. */
export interface LogsOptions {
  readonly file: string;
  /** One container; default every container that runs distctl units. */
  readonly container?: string;
  /** `web-server` or `web-server.service`; default all of the container's units. */
  readonly unit?: string;
  /** How many recent lines per container journal and per mongod log file. */
  readonly lines: number;
  /** `--since`: `10m`, `2h`, `1d`, or an ISO date/time (see parseSince). */
  readonly since?: string;
  /** `--grep`: an extended regular expression, filtered inside the containers. */
  readonly grep?: string;
  /** Keep printing new entries until `stopped` resolves. */
  readonly follow: boolean;
  readonly client: IncusClient;
  readonly ui: Ui;
  /** Where --follow writes entries as they arrive (the CLI passes stdout). */
  readonly write: (text: string) => void;
  /** Resolves when --follow should stop (Ctrl-C). */
  readonly stopped?: Promise<void>;
  /** How often --follow reads new entries (default 1 s). */
  readonly pollMs?: number;
  /** Reaches into the container; default over `incus exec` in the topology's project. */
  readonly ops?: ContainerOps;
  /** The clock `--since 10m` counts back from. */
  readonly now?: () => number;
}

/**
 * Checks `distctl logs [CONTAINER [UNIT]]` against the topology: the
 * container must be in it and run distctl units, the unit (a bare name gets
 * `.service`) must be one of them. Errors name what exists.
 */
export function resolveLogTarget(
  desired: DesiredState,
  containerName: string,
  unit?: string,
): { container: string; unit?: string } {
  const container = desired.containers.find((candidate) => candidate.name === containerName);
  if (container === undefined) {
    throw new DistctlError('UNKNOWN_CONTAINER', `container "${containerName}" is not in the topology`, {
      hint: `Containers: ${desired.containers.map((candidate) => candidate.name).join(', ')}.`,
    });
  }
  const units = container.units.map((candidate) => candidate.name);
  if (units.length === 0) {
    throw new DistctlError(
      'NO_UNITS',
      `container ${container.name} runs no distctl units (no service or mongod is placed on it)`,
      {
        hint:
          'For anything else, read the journal directly: ' +
          `\`incus exec ${container.name} --project ${desired.project} -- journalctl -n 50\`.`,
      },
    );
  }
  if (unit === undefined) return { container: container.name };
  const wanted = /\.(service|socket|timer|target|mount)$/.test(unit) ? unit : `${unit}.service`;
  if (!units.includes(wanted)) {
    throw new DistctlError('UNKNOWN_UNIT', `container ${container.name} has no distctl unit ${wanted}`, {
      hint:
        `Its units: ${units.join(', ')}. Pick one, e.g. \`distctl logs ${container.name} ${units[0] ?? ''}\`, ` +
        'or none for all.',
    });
  }
  return { container: container.name, unit: wanted };
}

/** The query the options ask for; a bad `--since` or `--grep` is the user's to fix. */
function logQuery(options: LogsOptions): LogQuery {
  let sinceEpochMs: number | undefined;
  if (options.since !== undefined) {
    const since = parseSince(options.since, (options.now ?? Date.now)());
    if (since === null) {
      throw new DistctlError('BAD_SINCE', `--since "${options.since}" is neither a duration nor a date`, {
        hint: 'Give a duration back from now (`90s`, `10m`, `2h`, `1d`) or an ISO date/time (`2026-11-28T14:00:00Z`).',
      });
    }
    sinceEpochMs = since;
  }
  if (options.grep !== undefined) {
    try {
      new RegExp(options.grep);
    } catch (error) {
      throw new DistctlError(
        'BAD_GREP',
        `--grep "${options.grep}" is not a regular expression: ${(error as Error).message}`,
        {
          hint: 'Give an extended regular expression, e.g. `--grep "error|warn"`.',
        },
      );
    }
  }
  return {
    lines: options.lines,
    ...(sinceEpochMs === undefined ? {} : { sinceEpochMs }),
    ...(options.grep === undefined ? {} : { grep: options.grep }),
  };
}

/** One read of every container: new entries in time order, and the containers that could not be read. */
async function readAll(
  ops: ContainerOps,
  sources: readonly ContainerLogSources[],
  query: LogQuery,
  positions: Map<string, LogPosition>,
): Promise<{ entries: LogEntry[]; unreadable: { container: string; details: string[] }[] }> {
  const reads = await Promise.all(
    sources.map(async (source) => {
      const previous = positions.get(source.container) ?? null;
      const result = await ops.exec(source.container, logReadArgv(source, query, previous), { timeoutMs: 30_000 });
      if (result.exitCode !== 0) return { container: source.container, entries: [], details: lastLines(result, 6) };
      const parsed = parseLogRead(source, result.stdout, previous);
      positions.set(source.container, parsed.position);
      return { container: source.container, entries: parsed.entries, details: null };
    }),
  );
  return {
    entries: mergeLogEntries(reads.map((read) => read.entries)),
    unreadable: reads.flatMap((read) =>
      read.details === null ? [] : [{ container: read.container, details: read.details }],
    ),
  };
}

/** `2026-11-28 14:00:01`, in UTC like the containers; blank when the line carries no time. */
function shownTime(time: number | null): string {
  return time === null ? ' '.repeat(19) : new Date(time).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * `distctl logs [CONTAINER [UNIT]] [-n N] [--since T] [--grep RE] [-f]`: the
 * platform's logs as one stream, like `docker compose logs`. Each line is
 * prefixed with its container and unit; mongod members contribute their log
 * files as well as their units' journal. A container that cannot be read
 * (stopped, missing) is named, the others are still shown, and the exit code is 1.
 */
export async function logsCommand(options: LogsOptions): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const target =
    options.container === undefined ? undefined : resolveLogTarget(desired, options.container, options.unit);
  const sources = logSources(desired, target?.container, target?.unit);
  if (sources.length === 0) {
    throw new DistctlError('NO_UNITS', 'no container of the topology runs distctl units', {
      hint: 'Place a service or a mongod on a container in topology.yaml.',
    });
  }
  const query = logQuery(options);
  const ops = options.ops ?? new IncusContainerOps(options.client, desired);
  const label = (container: string, unit: string): string => `${container}/${unit.replace(/\.service$/, '')}`;
  const labels = sources.flatMap((source) => source.units.map((unit) => label(source.container, unit)));
  const width = Math.max(...labels.map((each) => each.length));
  const human = (entry: LogEntry): string =>
    `${shownTime(entry.time)} ${label(entry.container, entry.unit).padEnd(width)} | ${readableMessage(entry.message)}`;
  const asJson = (entry: LogEntry): object => ({
    container: entry.container,
    unit: entry.unit,
    time: entry.time === null ? null : new Date(entry.time).toISOString(),
    message: entry.message,
  });
  const unreadableError = (unreadable: { container: string; details: string[] }[]): DistctlError =>
    new DistctlError(
      'LOGS_FAILED',
      `could not read the logs of ${unreadable.map((each) => each.container).join(', ')}`,
      {
        details: unreadable.flatMap((each) => each.details.map((line) => `${each.container}: ${line}`)),
        hint: 'Check that the container runs (`distctl status`); `distctl up` starts it.',
      },
    );

  // A container that cannot be read while others can is a progress event (stderr), not the result.
  const report = (unreadable: readonly { container: string; details: string[] }[]): void => {
    for (const each of unreadable) {
      const why = each.details.length > 0 ? `: ${each.details.join(' / ')}` : '';
      const message = `logs of ${each.container} could not be read${why}`;
      options.ui.step({ event: 'fail', message, subject: each.container });
    }
  };
  const positions = new Map<string, LogPosition>();
  const first = await readAll(ops, sources, query, positions);
  if (!options.follow) {
    if (first.unreadable.length === sources.length) throw unreadableError(first.unreadable);
    report(first.unreadable);
    return {
      exitCode: first.unreadable.length === 0 ? 0 : 1,
      human: first.entries.length === 0 ? '(no log entries)' : first.entries.map(human).join('\n'),
      json: { entries: first.entries.map(asJson), unreadable: first.unreadable.map((each) => each.container) },
    };
  }

  const emit = (entries: readonly LogEntry[]): void => {
    if (entries.length === 0) return;
    const text = entries.map((entry) => (options.ui.json ? JSON.stringify(asJson(entry)) : human(entry))).join('\n');
    options.write(`${text}\n`);
  };
  const warned = new Set<string>();
  const warnOnce = (unreadable: { container: string; details: string[] }[]): void => {
    const fresh = unreadable.filter((each) => !warned.has(each.container));
    for (const each of fresh) warned.add(each.container);
    report(fresh);
  };
  emit(first.entries);
  warnOnce(first.unreadable);
  let stop = false;
  void options.stopped?.then(() => {
    stop = true;
  });
  while (!stop) {
    await Promise.race([new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1_000)), options.stopped]);
    if (stop) break;
    const next = await readAll(ops, sources, query, positions);
    emit(next.entries);
    warnOnce(next.unreadable);
  }
  return { exitCode: 0, human: '', json: { followed: true, containers: sources.map((source) => source.container) } };
}
