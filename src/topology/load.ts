import { readFile } from 'node:fs/promises';
import {
  isMap,
  isPair,
  isScalar,
  LineCounter,
  parseDocument,
  Parser,
  type CST,
  type Document,
  type YAMLError,
} from 'yaml';
import type { z } from 'zod';
import { DistctlError } from '../errors/index.js';
import {
  closestKey,
  keysAt,
  problem,
  type SourceLocation,
  type TopologyPath,
  type TopologyProblem,
} from './problems.js';
import { topologySchema, type Topology } from './schema.js';
import { checkTopology } from './semantic.js';

/** The outcome of reading a topology: the model when it has no errors, and every problem found. */
export interface TopologyReport {
  readonly file: string;
  /** Present only when there are no errors. */
  readonly topology: Topology | null;
  readonly errors: readonly TopologyProblem[];
  readonly warnings: readonly TopologyProblem[];
}

/** Reads and checks a topology file. A missing or unreadable file is a DistctlError; content problems are in the report. */
export async function loadTopologyFile(file: string): Promise<TopologyReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new DistctlError('TOPOLOGY_NOT_FOUND', `topology file ${file} does not exist`, {
        hint: 'Run distctl from the directory holding topology.yaml, or pass its path with --file/-f.',
      });
    }
    throw new DistctlError('TOPOLOGY_UNREADABLE', `cannot read topology file ${file}: ${(error as Error).message}`, {
      hint: 'Check that the path is a readable file.',
    });
  }
  return parseTopology(text, file);
}

/** Loads a topology and insists it is valid: the form every command except `validate` uses. */
export async function requireTopology(
  file: string,
): Promise<{ topology: Topology; warnings: readonly TopologyProblem[] }> {
  const report = await loadTopologyFile(file);
  if (report.topology === null) throw new TopologyInvalidError(report);
  return { topology: report.topology, warnings: report.warnings };
}

/** A topology with errors, met by a command that needs a valid one; carries the problems for `--json`. */
export class TopologyInvalidError extends DistctlError {
  readonly problems: readonly TopologyProblem[];
  readonly warnings: readonly TopologyProblem[];

  constructor(report: TopologyReport) {
    const count = report.errors.length;
    super('TOPOLOGY_INVALID', `${report.file} has ${count} error${count === 1 ? '' : 's'}`, {
      details: report.errors.map(formatProblem),
      hint: `Fix them and check with \`distctl validate -f ${report.file}\`.`,
    });
    this.name = 'TopologyInvalidError';
    this.problems = report.errors;
    this.warnings = report.warnings;
  }
}

/** Parses and checks topology text. Pure apart from nothing: no I/O, every problem located in the source. */
export function parseTopology(text: string, file: string): TopologyReport {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const locateOffset = (offset: number): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };

  if (document.errors.length > 0) {
    const errors = document.errors.map((error) =>
      withLocation(
        problem(
          'error',
          'yaml-syntax',
          [],
          `not valid YAML: ${firstLine(error.message)}`,
          'Fix the YAML syntax at this position (indentation, colons, brackets, quotes).',
        ),
        locateOffset(syntaxErrorOffset(text, error)),
      ),
    );
    return { file, topology: null, errors, warnings: [] };
  }

  const raw: unknown = document.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    const what = raw === null || raw === undefined ? 'empty' : Array.isArray(raw) ? 'a list' : `a ${typeof raw}`;
    return {
      file,
      topology: null,
      errors: [
        withLocation(
          problem(
            'error',
            'not-a-mapping',
            [],
            `the topology is ${what}, not a mapping of keys`,
            "Start from the repository's topology.yaml: it has version, image, network, containers, ...",
          ),
          locateOffset(0),
        ),
      ],
      warnings: [],
    };
  }

  const locate = (path: TopologyPath): SourceLocation => locateOffset(nodeOffset(document, path));
  const parsed = topologySchema.safeParse(raw);
  if (!parsed.success) {
    const errors = shapeProblems(parsed.error.issues, raw)
      .map((found) => withLocation(found, locate(found.path)))
      .sort((a, b) => lineOf(a) - lineOf(b) || (a.location?.column ?? 0) - (b.location?.column ?? 0));
    return { file, topology: null, errors, warnings: [] };
  }

  const found = checkTopology(parsed.data).map((found) => withLocation(found, locate(found.path)));
  const errors = found.filter((entry) => entry.severity === 'error');
  return {
    file,
    topology: errors.length === 0 ? parsed.data : null,
    errors,
    warnings: found.filter((entry) => entry.severity === 'warning'),
  };
}

/** `topology.yaml:12:7 containers[2].ipv4: ... (hint)` on one line, for logs and error details. */
export function formatProblem(found: TopologyProblem): string {
  const where = found.location ? `${found.location.file}:${found.location.line}:${found.location.column} ` : '';
  const path = found.path.length > 0 ? `${pathText(found.path)}: ` : '';
  return `${where}${path}${found.message}${found.hint ? ` — ${found.hint}` : ''}`;
}

function pathText(path: TopologyPath): string {
  return path
    .map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : index === 0 ? segment : `.${segment}`))
    .join('');
}

function lineOf(found: TopologyProblem): number {
  return found.location?.line ?? 0;
}

function withLocation(found: TopologyProblem, location: SourceLocation): TopologyProblem {
  return { ...found, location };
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

/** Offset of the deepest node that exists on the path; for a missing key, its parent. Keys point at the key itself. */
function nodeOffset(document: Document, path: TopologyPath): number {
  for (let depth = path.length; depth > 0; depth--) {
    const parent = depth === 1 ? document.contents : document.getIn(path.slice(0, depth - 1), true);
    const last = path[depth - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === last);
      const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (range) return range[0];
    }
    const node = document.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return node.range[0];
  }
  return (document.contents as { range?: [number, number, number] } | null)?.range?.[0] ?? 0;
}

function valueAt(root: unknown, path: TopologyPath): unknown {
  let value = root;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the string "${value}"`;
  return `${typeof value} ${String(value)}`;
}

/**
 * Turns zod's issues into problems phrased for a YAML author. A mistyped key
 * is suggested only from the keys valid at its place, a required key that is
 * missing there first; such a pair (unknown `nmae`, missing `name`) is one
 * problem, at the typo, rather than two.
 */
function shapeProblems(issues: readonly z.core.$ZodIssue[], raw: unknown): TopologyProblem[] {
  const pathOf = (issue: z.core.$ZodIssue): TopologyPath =>
    issue.path.filter((segment): segment is string | number => typeof segment !== 'symbol');
  const isMissing = (issue: z.core.$ZodIssue): boolean =>
    issue.code === 'invalid_type' && valueAt(raw, pathOf(issue)) === undefined;
  const explained = new Set<string>();
  const found: TopologyProblem[] = [];
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const path = pathOf(issue);
    const here = keysAt(topologySchema, path, raw);
    const missing = here.required.filter(
      (key) => valueAt(raw, [...path, key]) === undefined && !explained.has(pathText([...path, key])),
    );
    for (const key of issue.keys) {
      const instead = closestKey(key, missing);
      if (instead !== undefined) explained.add(pathText([...path, instead]));
      const suggestion = instead ?? closestKey(key, here.keys);
      const hint =
        instead !== undefined
          ? `Did you mean "${instead}"? It is required here and missing.`
          : suggestion !== undefined
            ? `Did you mean "${suggestion}"?`
            : `Remove it; the keys here are ${here.keys.join(', ')}.`;
      found.push(problem('error', 'unknown-key', [...path, key], `unknown key "${key}"`, hint));
    }
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') continue;
    const path = pathOf(issue);
    if (isMissing(issue) && explained.has(pathText(path))) continue;
    found.push(issueProblem(issue, path, raw));
  }
  return found;
}

function issueProblem(issue: z.core.$ZodIssue, path: TopologyPath, raw: unknown): TopologyProblem {
  const value = valueAt(raw, path);
  const key = path[path.length - 1];
  if (issue.code === 'invalid_type') {
    if (value === undefined) {
      const hint = `Add ${String(key)} (see the repository topology.yaml for an example).`;
      return problem('error', 'missing-key', path, `required key "${String(key)}" is missing`, hint);
    }
    const message = `must be ${article(issue.expected)}, not ${describeValue(value)}`;
    return problem('error', 'wrong-type', path, message, 'Change the value to the expected type.');
  }
  const got = value !== undefined && typeof value !== 'object' ? ` (got ${JSON.stringify(value)})` : '';
  return problem('error', 'invalid-value', path, `${issue.message}${got}`);
}

/**
 * Where a YAML syntax error belongs. The parser notices an unclosed bracket or
 * quote only where the file (or the block) ends; the author needs the line
 * that opened it.
 */
function syntaxErrorOffset(text: string, error: YAMLError): number {
  const unclosed = error.code === 'MISSING_CHAR' || (error.code === 'BAD_INDENT' && /end with a/.test(error.message));
  if (!unclosed) return error.pos[0];
  const openers: number[] = [];
  for (const token of new Parser().parse(text)) collectUnclosed(token, openers);
  return (
    openers
      .filter((offset) => offset < error.pos[0])
      .sort((a, b) => a - b)
      .at(-1) ?? error.pos[0]
  );
}

/** Offsets of flow collections without their closing bracket and quoted scalars without their closing quote. */
function collectUnclosed(token: CST.Token | null | undefined, openers: number[]): void {
  if (!token) return;
  switch (token.type) {
    case 'document':
      collectUnclosed(token.value, openers);
      return;
    case 'flow-collection': {
      const close = token.start.source === '{' ? '}' : ']';
      if (!token.end.some((end) => end.source === close)) openers.push(token.start.offset);
      break;
    }
    case 'double-quoted-scalar':
    case 'single-quoted-scalar': {
      const quote = token.source[0] ?? '';
      if (token.source.length < 2 || !token.source.endsWith(quote)) openers.push(token.offset);
      return;
    }
    case 'block-map':
    case 'block-seq':
      break;
    default:
      return;
  }
  for (const item of token.items) {
    collectUnclosed(item.key, openers);
    collectUnclosed(item.value, openers);
  }
}

function article(expected: string): string {
  const names: Record<string, string> = {
    array: 'a list',
    object: 'a mapping',
    string: 'a string',
    number: 'a number',
    boolean: 'true or false',
  };
  return names[expected] ?? expected;
}
