import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One apt source as the host configures it, from either a deb822 stanza or a one-line entry. */
export interface AptSource {
  readonly types: readonly string[];
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  readonly components: readonly string[];
  /** A keyring file path, when `Signed-By`/`signed-by=` names one (an inline key block is not kept). */
  readonly signedBy: string | undefined;
  /** The file it came from, for messages. */
  readonly origin: string;
}

/** A source file's name and text; the parsers below never touch the disk. */
export interface AptSourceFile {
  readonly path: string;
  readonly content: string;
}

/** The mirror chosen for a suite: where to fetch from and which keyring vouches for it. */
export interface MirrorChoice {
  readonly uri: string;
  readonly signedBy: string | undefined;
  readonly components: readonly string[];
  readonly origin: string;
}

function splitWords(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(/\s+/).filter((w) => w !== '');
}

/** A keyring is kept only when it is a path; deb822 also allows an inline armored key. */
function keyringPath(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed !== undefined && trimmed.startsWith('/') && !/\s/.test(trimmed) ? trimmed : undefined;
}

/** Parses a deb822 `.sources` file (see sources.list(5)); stanzas with `Enabled: no` are dropped. */
export function parseDeb822Sources(file: AptSourceFile): AptSource[] {
  const sources: AptSource[] = [];
  const stanzas = file.content.split(/\n[ \t]*\n/);
  for (const stanza of stanzas) {
    const fields = new Map<string, string>();
    let current: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      if (/^[ \t]/.test(line)) {
        // Continuation of the previous field (e.g. a multi-line inline Signed-By key).
        if (current !== undefined) fields.set(current, `${fields.get(current) ?? ''}\n${line.trim()}`);
        continue;
      }
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      current = line.slice(0, colon).trim().toLowerCase();
      fields.set(current, line.slice(colon + 1).trim());
    }
    if (fields.size === 0) continue;
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    sources.push({
      types: splitWords(fields.get('types')),
      uris: splitWords(fields.get('uris')),
      suites: splitWords(fields.get('suites')),
      components: splitWords(fields.get('components')),
      signedBy: keyringPath(fields.get('signed-by')),
      origin: file.path,
    });
  }
  return sources;
}

/** Parses a classic one-line `sources.list` (`deb [opts] uri suite [components...]`). */
export function parseOneLineSources(file: AptSourceFile): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of file.content.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const match = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(.*)$/.exec(line);
    if (!match) continue;
    const [, type, options, uri, suite, rest] = match;
    const signedOption = splitWords(options).find((o) => o.toLowerCase().startsWith('signed-by='));
    sources.push({
      types: [type!],
      uris: [uri!],
      suites: [suite!],
      components: splitWords(rest),
      signedBy: keyringPath(signedOption?.slice('signed-by='.length)),
      origin: file.path,
    });
  }
  return sources;
}

/** Parses whichever format the file name implies (`.sources` is deb822, anything else one-line). */
export function parseAptSourceFile(file: AptSourceFile): AptSource[] {
  return file.path.endsWith('.sources') ? parseDeb822Sources(file) : parseOneLineSources(file);
}

function looksLikeDebianArchive(source: AptSource): boolean {
  const uri = source.uris[0] ?? '';
  return /\/debian\/?$/.test(uri) || (source.signedBy ?? '').includes('debian-archive-keyring');
}

/**
 * Picks the binary source to fetch `suite` from: the first one whose Suites name it,
 * else the main Debian archive (a bare-codename suite on a `/debian` URI or signed by
 * Debian's archive keyring), so building a newer suite on an older host still finds
 * the mirror. Third-party repositories never qualify as the fallback.
 */
export function pickMirror(sources: readonly AptSource[], suite: string): MirrorChoice | undefined {
  const exact = findSuiteSource(sources, suite);
  if (exact !== undefined) return exact;
  const archive = binarySources(sources).find(
    (s) => looksLikeDebianArchive(s) && s.suites.some((x) => !x.includes('-') && !x.includes('/')),
  );
  return archive === undefined ? undefined : toChoice(archive);
}

/** The binary source that names `suite` exactly (e.g. `bookworm-security`), without any fallback. */
export function findSuiteSource(sources: readonly AptSource[], suite: string): MirrorChoice | undefined {
  const chosen = binarySources(sources).find((s) => s.suites.includes(suite));
  return chosen === undefined ? undefined : toChoice(chosen);
}

function binarySources(sources: readonly AptSource[]): AptSource[] {
  return sources.filter((s) => s.types.includes('deb') && s.uris.length > 0);
}

function toChoice(source: AptSource): MirrorChoice {
  return { uri: source.uris[0]!, signedBy: source.signedBy, components: source.components, origin: source.origin };
}

/**
 * The host's apt sources, `sources.list` first then `sources.list.d/*.{list,sources}` in name order (as apt reads
 * them).
 */
export async function readAptSources(aptDir = '/etc/apt'): Promise<AptSource[]> {
  const files: AptSourceFile[] = [];
  const mainList = join(aptDir, 'sources.list');
  const tryRead = async (path: string): Promise<void> => {
    try {
      files.push({ path, content: await readFile(path, 'utf8') });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  };
  await tryRead(mainList);
  let names: string[] = [];
  try {
    names = (await readdir(join(aptDir, 'sources.list.d')))
      .filter((n) => n.endsWith('.list') || n.endsWith('.sources'))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of names) await tryRead(join(aptDir, 'sources.list.d', name));
  return files.flatMap(parseAptSourceFile);
}
