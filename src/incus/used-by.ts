/** One entry of a resource's `used_by` list, parsed. */
export interface UsedByEntry {
  /** The collection, e.g. `instances`, `profiles`. */
  readonly collection: string;
  readonly name: string;
  /** The project the user lives in; Incus omits `?project=` for the default project. */
  readonly project: string;
}

/**
 * Parses a `used_by` URL such as `/1.0/instances/db1?project=distctl`, so that
 * ownership is decided by exact comparison of project and name — never by a
 * substring, under which `db1` would match `db10` in another project. Returns
 * null for anything that is not `/1.0/<collection>/<name>`.
 */
export function parseUsedBy(url: string): UsedByEntry | null {
  let parsed: URL;
  try {
    parsed = new URL(url, 'http://incus.invalid');
  } catch {
    return null;
  }
  const parts = parsed.pathname.split('/');
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== '1.0' || !parts[2] || !parts[3]) return null;
  return {
    collection: parts[2],
    name: decodeURIComponent(parts[3]),
    project: parsed.searchParams.get('project') ?? 'default',
  };
}
