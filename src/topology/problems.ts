/** A place in the topology file, 1-based as editors show it. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** A path into the topology document: keys and list indexes. */
export type TopologyPath = readonly (string | number)[];

/** One thing wrong (error) or fragile (warning) in a topology, with where and how to fix it. */
export interface TopologyProblem {
  readonly severity: 'error' | 'warning';
  /** Stable identifier, e.g. `ip-outside-subnet`; tests and `--json` consumers match on it. */
  readonly code: string;
  readonly path: TopologyPath;
  readonly message: string;
  readonly hint?: string;
  /** Filled in by the loader from the YAML source positions. */
  readonly location?: SourceLocation;
}

/** `containers[2].ipv4` */
export function formatPath(path: TopologyPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out === '' ? '(document root)' : out;
}

/** Builds problems for one check with less ceremony. */
export function problem(
  severity: TopologyProblem['severity'],
  code: string,
  path: TopologyPath,
  message: string,
  hint?: string,
): TopologyProblem {
  return hint === undefined ? { severity, code, path, message } : { severity, code, path, message, hint };
}
