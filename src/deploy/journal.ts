import type { CommandResult } from '../exec/runner.js';
import type { ContainerOps } from '../incus/container-ops.js';

/** What journalctl prints instead of entries when there are none. */
const NO_ENTRIES = /^-- No entries --\s*$/m;

/**
 * `journalctl` reading a unit: its last `lines` entries, or with
 * `afterCursor` only the entries after that cursor. `showCursor` (implied by
 * `afterCursor`) appends `-- cursor: ...` so the next read can continue there.
 */
export function journalArgv(
  unit: string,
  options: { lines?: number; afterCursor?: string; showCursor?: boolean } = {},
): string[] {
  const argv = ['journalctl', '-u', unit, '--no-pager'];
  if (options.afterCursor !== undefined) argv.push(`--after-cursor=${options.afterCursor}`);
  else argv.push('-n', String(options.lines ?? 20));
  if (options.showCursor || options.afterCursor !== undefined) argv.push('--show-cursor');
  return argv;
}

/** Runs journalctl for a unit inside a container (see journalArgv). */
export function readJournal(
  ops: ContainerOps,
  container: string,
  unit: string,
  options: { lines?: number; afterCursor?: string; showCursor?: boolean } = {},
): Promise<CommandResult> {
  return ops.exec(container, journalArgv(unit, options), { timeoutMs: 30_000 });
}

/**
 * Splits journalctl output into its entries and the trailing cursor (null when
 * there was none), dropping the "-- No entries --" placeholder.
 */
export function splitCursor(stdout: string): { text: string; cursor: string | null } {
  const match = /(?:^|\n)-- cursor: (\S+)\s*$/.exec(stdout);
  const body = match === null ? stdout : stdout.slice(0, match.index);
  const text = body.replace(NO_ENTRIES, '').replace(/^\n+/, '');
  return { text: text === '' || text.endsWith('\n') ? text : `${text}\n`, cursor: match?.[1] ?? null };
}

/**
 * A unit's last journal lines for an error message; never throws (the
 * error being reported matters more than a failure to read the journal).
 */
export async function journalTail(ops: ContainerOps, container: string, unit: string, lines = 20): Promise<string[]> {
  try {
    const result = await readJournal(ops, container, unit, { lines });
    const text = `${result.stdout}${result.stderr}`
      .split('\n')
      .map((line) => line.trimEnd())
      .filter((line) => line !== '');
    return text.length > 0 ? text : [`(journalctl -u ${unit} printed nothing)`];
  } catch (error) {
    return [`(could not read the journal of ${unit}: ${error instanceof Error ? error.message : String(error)})`];
  }
}
