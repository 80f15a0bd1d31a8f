import type { DistctlError } from '../errors/index.js';
import { formatPath, type TopologyProblem } from '../topology/problems.js';

/** What a command hands back to the CLI edge, which prints one of the two forms and exits with the code. */
export interface CommandResult {
  readonly exitCode: number;
  /** Shown on a terminal (may contain chalk colour). */
  readonly human: string;
  /** The command's own fields of the `--json` envelope (an object; `ok` in it, when present, is honoured). */
  readonly json: unknown;
  /** Problems found: on stderr for a terminal, in the envelope's `errors` with --json. */
  readonly errors?: readonly ErrorEntry[];
  /** Like errors, for what works but is fragile; the envelope's `warnings`. */
  readonly warnings?: readonly ErrorEntry[];
}

/** Version of the `--json` document; raised only when a field changes meaning or disappears. */
const FORMAT_VERSION = 1;

/** One problem as every command reports it with --json. Location fields are null when they do not apply. */
export interface ErrorEntry {
  /** UPPER_SNAKE_CASE, stable: consumers match on it. */
  readonly code: string;
  readonly message: string;
  readonly file: string | null;
  /** 1-based, as editors show it. */
  readonly line: number | null;
  readonly column: number | null;
  /** Path into the topology document (keys and list indexes). */
  readonly path: readonly (string | number)[] | null;
  readonly hint: string | null;
}

/** The one JSON document every command prints on stdout with --json, usage errors included. */
export interface Envelope {
  readonly formatVersion: typeof FORMAT_VERSION;
  readonly ok: boolean;
  readonly errors: readonly ErrorEntry[];
  readonly warnings: readonly ErrorEntry[];
  readonly [field: string]: unknown;
}

/**
 * Error codes in one style. DistctlError codes are UPPER_SNAKE_CASE already;
 * topology problems and plan notices are named in kebab-case inside distctl
 * (`range-gap`) and leave it as `RANGE_GAP`.
 */
export function errorCode(code: string): string {
  return code
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
}

/** A topology problem as an envelope entry. */
export function problemEntry(found: TopologyProblem): ErrorEntry {
  return {
    code: errorCode(found.code),
    message: found.message,
    file: found.location?.file ?? null,
    line: found.location?.line ?? null,
    column: found.location?.column ?? null,
    path: found.path,
    hint: found.hint ?? null,
  };
}

/** A DistctlError as an envelope entry; its detail lines follow the message. */
export function errorEntry(error: DistctlError): ErrorEntry {
  return {
    code: errorCode(error.code),
    message: [error.message, ...error.details].join('\n'),
    file: null,
    line: null,
    column: null,
    path: null,
    hint: error.hint ?? null,
  };
}

/** `file:line:column path: message — hint`, as on a terminal. */
export function formatEntry(entry: ErrorEntry): string {
  const where = entry.file !== null && entry.line !== null ? `${entry.file}:${entry.line}:${entry.column ?? 1} ` : '';
  const path = entry.path !== null && entry.path.length > 0 ? `${formatPath(entry.path)}: ` : '';
  return `${where}${path}${entry.message}${entry.hint !== null ? ` — ${entry.hint}` : ''}`;
}

/** Wraps a command's result in the envelope: version first, `ok`, the command's fields, errors, warnings. */
export function envelope(result: CommandResult): Envelope {
  const fields: Record<string, unknown> = isRecord(result.json) ? { ...result.json } : { result: result.json ?? null };
  const errors = result.errors ?? [];
  const declared = typeof fields.ok === 'boolean' ? fields.ok : result.exitCode === 0;
  delete fields.ok;
  return {
    formatVersion: FORMAT_VERSION,
    ok: declared && errors.length === 0,
    ...fields,
    errors,
    warnings: result.warnings ?? [],
  };
}

/** The envelope of a command that failed with an error instead of a result. */
export function failureEnvelope(errors: readonly ErrorEntry[], warnings: readonly ErrorEntry[] = []): Envelope {
  return { formatVersion: FORMAT_VERSION, ok: false, errors, warnings };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
