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

/** What a zod schema exposes for walking it (zod 4 keeps it in `_zod.def`). */
interface SchemaDef {
  readonly type: string;
  readonly shape?: Readonly<Record<string, SchemaNode>>;
  readonly element?: SchemaNode;
  readonly innerType?: SchemaNode;
  readonly in?: SchemaNode;
  readonly options?: readonly SchemaNode[];
  readonly discriminator?: string;
}

/** The minimum of a zod schema the suggestion code reads. */
export interface SchemaNode {
  readonly _zod: {
    readonly def: unknown;
    readonly optin?: string | undefined;
    readonly values?: ReadonlySet<unknown> | undefined;
  };
}

function defOf(schema: SchemaNode): SchemaDef {
  return schema._zod.def as SchemaDef;
}

/**
 * The keys a mapping may hold at `path` of the document, and which of them are
 * required. Under a `kind:`-style union only the variant the value names counts,
 * so a suggestion never names a key that would be unknown at that place too.
 */
export function keysAt(schema: SchemaNode, path: TopologyPath, value: unknown): { keys: string[]; required: string[] } {
  const keys = new Set<string>();
  const required = new Set<string>();
  for (const object of objectSchemasAt(schema, path, value)) {
    for (const [key, field] of Object.entries(defOf(object).shape ?? {})) {
      keys.add(key);
      if (field._zod.optin === undefined) required.add(key);
    }
  }
  return { keys: [...keys], required: [...required] };
}

function objectSchemasAt(schema: SchemaNode, path: TopologyPath, value: unknown): SchemaNode[] {
  const def = defOf(schema);
  const inner = def.innerType ?? def.in;
  if (inner) return objectSchemasAt(inner, path, value);
  if (def.options) return variants(def, value).flatMap((option) => objectSchemasAt(option, path, value));
  if (path.length === 0) return def.shape ? [schema] : [];
  const [head, ...rest] = path;
  const child = childValue(value, head);
  if (typeof head === 'number' && def.element) return objectSchemasAt(def.element, rest, child);
  const field = typeof head === 'string' ? def.shape?.[head] : undefined;
  return field ? objectSchemasAt(field, rest, child) : [];
}

/** The variants of a union that the value can be: for a discriminated union, the one its discriminator names. */
function variants(def: SchemaDef, value: unknown): readonly SchemaNode[] {
  const options = def.options ?? [];
  if (def.discriminator === undefined) return options;
  const tag = childValue(value, def.discriminator);
  const named = options.filter((option) => defOf(option).shape?.[def.discriminator ?? '']?._zod.values?.has(tag));
  return named.length > 0 ? named : options;
}

function childValue(value: unknown, key: string | number | undefined): unknown {
  if (key === undefined || value === null || typeof value !== 'object') return undefined;
  return (value as Record<string | number, unknown>)[key];
}

/** The candidate closest to a mistyped key (case-insensitive edit distance ≤ 2), if any. */
export function closestKey(key: string, candidates: readonly string[]): string | undefined {
  let best: { word: string; distance: number } | undefined;
  for (const word of candidates) {
    const distance = editDistance(key.toLowerCase(), word.toLowerCase());
    const plausible = distance <= 2 && distance < Math.max(key.length, word.length);
    if (plausible && (best === undefined || distance < best.distance)) {
      best = { word, distance };
    }
  }
  return best?.word;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
