import { z } from 'zod';
import type { DesiredState } from '../derive/types.js';

/**
 * The logs of a deployment, read the way `docker compose logs` reads a project:
 * every distctl unit of every container as one stream. A container's units are
 * read with one `incus exec` per read: the systemd journal of all its units
 * (start, stop, crash and everything the services print) plus, for mongod
 * members, the log file mongod writes (the config sends its log there, not to
 * the journal).
 */

/** What one container is read for: its units' journal and its mongod log files. */
export interface ContainerLogSources {
  readonly container: string;
  readonly units: readonly string[];
  /** mongod log files, each with the unit it belongs to. */
  readonly files: readonly { readonly unit: string; readonly path: string }[];
}

/** Where each source of a container stopped at the last read: journal cursor and file sizes (null = never read). */
export interface LogPosition {
  readonly cursor: string | null;
  readonly fileOffsets: readonly (number | null)[];
}

/** How much to read: the last `lines` per source, only entries since `sinceEpochMs`, only lines matching `grep`. */
export interface LogQuery {
  readonly lines: number;
  readonly sinceEpochMs?: number;
  /** An extended regular expression, applied inside the container (journalctl --grep, grep -E). */
  readonly grep?: string;
}

/** One log line of the platform. `time` is epoch milliseconds, null when the line carries no time. */
export interface LogEntry {
  readonly container: string;
  readonly unit: string;
  readonly time: number | null;
  readonly message: string;
}

/**
 * The sources to read for `distctl logs [CONTAINER [UNIT]]`: all containers
 * with units, or one container, or one unit of it. Unknown names are the
 * caller's to report (see resolveLogTarget in the logs command).
 */
export function logSources(desired: DesiredState, container?: string, unit?: string): ContainerLogSources[] {
  return desired.containers
    .filter((candidate) => container === undefined || candidate.name === container)
    .map((candidate) => {
      const units = candidate.units.filter((each) => unit === undefined || each.name === unit);
      return {
        container: candidate.name,
        units: units.map((each) => each.name),
        files: units.flatMap((each) =>
          each.kind === 'mongod' ? [{ unit: each.name, path: each.process.logPath }] : [],
        ),
      };
    })
    .filter((sources) => sources.units.length > 0);
}

/**
 * The script one read runs inside a container (bash, values only as
 * positional arguments, never spliced into the text). It prints tagged lines:
 * `J <journal entry as JSON>`, `F <file index> <line>`, `O <file index> <size>`.
 * A file is read from its last offset, or its last lines on the first read;
 * a file smaller than its offset was rotated and is read from the start.
 */
const READ_SCRIPT = [
  'set -u',
  'lines=$1; since=$2; since_iso=$3; pattern=$4; cursor=$5; nunits=$6; shift 6',
  'args=(--no-pager -o json --output-fields=MESSAGE,UNIT,_SYSTEMD_UNIT)',
  'for ((i = 0; i < nunits; i++)); do args+=(-u "$1"); shift; done',
  'if [ -n "$cursor" ]; then args+=("--after-cursor=$cursor"); else args+=(-n "$lines"); fi',
  'if [ -n "$since" ]; then args+=("--since=@$since"); fi',
  'if [ -n "$pattern" ]; then args+=("--grep=$pattern"); fi',
  'journalctl "${args[@]}" 2>/dev/null | sed "s/^/J /"',
  'index=0',
  'while [ $# -ge 2 ]; do',
  '  path=$1; offset=$2; shift 2',
  '  if [ -f "$path" ]; then',
  '    size=$(stat -c %s "$path")',
  '    if [ -z "$offset" ]; then',
  '      if [ -n "$since_iso" ]; then',
  // mongod's JSON log lines carry {"t":{"$date":"2026-11-28T14:00:00.000+00:00"}}: keep the lines from `since` on.
  '        awk -v since="$since_iso" \'match($0, /"\\$date":"[^"]+"/) { if (substr($0, RSTART + 9, 19) >= since) keep = 1 } keep\' "$path"',
  '      else tail -n "$lines" "$path"; fi',
  '    elif [ "$size" -lt "$offset" ]; then cat "$path"',
  '    else tail -c +"$((offset + 1))" "$path"; fi |',
  '      { if [ -n "$pattern" ]; then grep -E -- "$pattern"; else cat; fi; } |',
  '      { if [ -z "$offset" ]; then tail -n "$lines"; else cat; fi; } | sed "s/^/F $index /"',
  '    echo "O $index $size"',
  '  fi',
  '  index=$((index + 1))',
  'done',
].join('\n');

/** The argv of one read of a container's logs (see READ_SCRIPT). */
export function logReadArgv(sources: ContainerLogSources, query: LogQuery, position: LogPosition | null): string[] {
  const since = query.sinceEpochMs === undefined ? '' : String(Math.floor(query.sinceEpochMs / 1000));
  const sinceIso = query.sinceEpochMs === undefined ? '' : new Date(query.sinceEpochMs).toISOString().slice(0, 19);
  const files = sources.files.flatMap((file, index) => {
    const offset = position?.fileOffsets[index];
    return [file.path, offset === null || offset === undefined ? '' : String(offset)];
  });
  return [
    'bash',
    '-c',
    READ_SCRIPT,
    'distctl-logs',
    String(query.lines),
    // On a follow-up read, `since` and the line limit were already applied by the first read.
    position === null ? since : '',
    position === null ? sinceIso : '',
    query.grep ?? '',
    position?.cursor ?? '',
    String(sources.units.length),
    ...sources.units,
    ...files,
  ];
}

/** The fields of a `journalctl -o json` entry that logs reads; MESSAGE is a string or, when not UTF-8, bytes. */
const JournalRecord = z.object({
  MESSAGE: z.union([z.string(), z.array(z.number())]).optional(),
  UNIT: z.string().optional(),
  _SYSTEMD_UNIT: z.string().optional(),
  __REALTIME_TIMESTAMP: z.string().optional(),
  __CURSOR: z.string().optional(),
});

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** journalctl's MESSAGE: a string, or an array of bytes when the message is not valid UTF-8. */
function journalMessage(message: string | number[] | undefined): string {
  if (message === undefined) return '';
  return typeof message === 'string' ? message : Buffer.from(message).toString('utf8');
}

/** mongod's structured log line `{"t":{"$date":...},...,"msg":...}` as a time; null for anything else. */
function mongodLineTime(line: string): number | null {
  const match = /"\$date":"([^"]+)"/.exec(line);
  if (match?.[1] === undefined) return null;
  const time = Date.parse(match[1]);
  return Number.isNaN(time) ? null : time;
}

/**
 * Parses the output of one read (see READ_SCRIPT) into entries and the
 * position to continue from. Lines that are not the script's (noise from a
 * shell) are ignored; a journal entry for a unit outside the container's list
 * is dropped (journalctl's -u also matches some messages about other units).
 */
export function parseLogRead(
  sources: ContainerLogSources,
  stdout: string,
  previous: LogPosition | null,
): { entries: LogEntry[]; position: LogPosition } {
  const entries: LogEntry[] = [];
  let cursor = previous?.cursor ?? null;
  const offsets: (number | null)[] = sources.files.map((_, index) => previous?.fileOffsets[index] ?? null);
  const lastFileTime: (number | null)[] = sources.files.map(() => null);
  for (const line of stdout.split('\n')) {
    if (line.startsWith('J ')) {
      const parsed = JournalRecord.safeParse(parseJson(line.slice(2)));
      if (!parsed.success) continue;
      const record = parsed.data;
      if (record.__CURSOR !== undefined) cursor = record.__CURSOR;
      const unit = [record.UNIT, record._SYSTEMD_UNIT].find(
        (name) => name !== undefined && sources.units.includes(name),
      );
      if (unit === undefined) continue;
      const micros = record.__REALTIME_TIMESTAMP === undefined ? Number.NaN : Number(record.__REALTIME_TIMESTAMP);
      entries.push({
        container: sources.container,
        unit,
        time: Number.isFinite(micros) ? Math.floor(micros / 1000) : null,
        message: journalMessage(record.MESSAGE),
      });
      continue;
    }
    const fileLine = /^F (\d+) (.*)$/.exec(line);
    if (fileLine !== null) {
      const index = Number(fileLine[1]);
      const file = sources.files[index];
      if (file === undefined) continue;
      const message = fileLine[2] ?? '';
      // A line without its own time (a stack trace's continuation) keeps its place after the line before it.
      const time = mongodLineTime(message) ?? lastFileTime[index] ?? null;
      lastFileTime[index] = time;
      entries.push({ container: sources.container, unit: file.unit, time, message });
      continue;
    }
    const offset = /^O (\d+) (\d+)$/.exec(line);
    if (offset !== null && sources.files[Number(offset[1])] !== undefined)
      offsets[Number(offset[1])] = Number(offset[2]);
  }
  return { entries, position: { cursor, fileOffsets: offsets } };
}

/**
 * Entries of several sources as one stream in time order. The sort is stable,
 * so entries without a time keep their place relative to their own source.
 */
export function mergeLogEntries(batches: readonly (readonly LogEntry[])[]): LogEntry[] {
  const all = batches.flatMap((batch) => batch.map((entry, order) => ({ entry, order })));
  return all.sort((a, b) => (a.entry.time ?? 0) - (b.entry.time ?? 0) || a.order - b.order).map(({ entry }) => entry);
}

const SINCE_UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: a duration back from now (`90s`, `10m`, `2h`, `1d`) or an
 * ISO 8601 date/time (`2026-11-28`, `2026-11-28T14:00:00Z`; without a zone it
 * is UTC). Null when the text is neither.
 */
export function parseSince(text: string, now: number): number | null {
  const relative = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (relative !== null) return now - Number(relative[1]) * (SINCE_UNITS[relative[2] ?? 's'] ?? 1_000);
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$/.test(text.trim())) return null;
  const iso = text.trim().replace(' ', 'T');
  const zoned = /(Z|[+-]\d{2}:\d{2})$/.test(iso) ? iso : `${iso.length === 10 ? `${iso}T00:00:00` : iso}Z`;
  const time = Date.parse(zoned);
  return Number.isNaN(time) ? null : time;
}

/** mongod's structured log line, as far as a reader wants it: severity, component, context, message, attributes. */
const MongodLogLine = z.object({
  s: z.string(),
  c: z.string(),
  ctx: z.string(),
  msg: z.string(),
  attr: z.record(z.string(), z.unknown()).optional(),
});

/**
 * A log message as a person reads it: mongod's JSON line becomes
 * `I NETWORK [listener] Waiting for connections {"port":27017}`; anything
 * else is shown as it is.
 */
export function readableMessage(message: string): string {
  if (!message.startsWith('{')) return message;
  const parsed = MongodLogLine.safeParse(parseJson(message));
  if (!parsed.success) return message;
  const { s, c, ctx, msg, attr } = parsed.data;
  return `${s} ${c} [${ctx}] ${msg}${attr === undefined ? '' : ` ${JSON.stringify(attr)}`}`;
}
