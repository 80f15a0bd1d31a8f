/**
 * The routing contract between distctl and web-server, in one module both
 * sides import: the shard map type (passed to web-server as `SHARD_MAP`), the
 * routing alphabet, and the routing letter of a product name. It depends on
 * nothing, so the services bundle can import it without pulling in CLI code.
 */

/** The product shard map a web service routes by; also passed to it as JSON in `SHARD_MAP`. */
export interface ShardMap {
  /** Replica set for names with no routing letter (see routingLetter) or a letter no range covers. */
  readonly defaultShard: string | null;
  /** Inclusive letter ranges in the alphabet A..N, Ñ, O..Z. */
  readonly ranges: readonly { readonly from: string; readonly to: string; readonly shard: string }[];
  /** Per shard, the name of the environment variable that holds its connection string. */
  readonly shards: Readonly<Record<string, { readonly urlEnv: string }>>;
}

/** The routing alphabet, in order: A..N, then Ñ as its own letter, then O..Z. */
export const ROUTING_ALPHABET: readonly string[] = [...'ABCDEFGHIJKLMN', 'Ñ', ...'OPQRSTUVWXYZ'];

/** Position of a routing letter in the alphabet, or -1. */
export function letterIndex(letter: string): number {
  return ROUTING_ALPHABET.indexOf(letter);
}

/**
 * Latin letters that NFKC leaves alone and that carry no combining mark to
 * strip, folded to the letter a Spanish-speaking user files them under:
 * ß → S (as in "ss"), Æ → A, Œ → O, Ø → O, Đ/Ð → D, Ł → L, Þ → T (either case).
 */
const LETTER_FOLDS: Readonly<Record<string, string>> = {
  ß: 'S',
  ẞ: 'S',
  Æ: 'A',
  Œ: 'O',
  Ø: 'O',
  Đ: 'D',
  Ð: 'D',
  Ł: 'L',
  Þ: 'T',
};

/**
 * The routing letter of a product name, or null when the name goes to the
 * default shard. Steps, in order:
 *   1. NFKC: full-width `Ａ` → `A`, ligatures `ﬁ` → `fi`, decomposed `N` + U+0303 → `Ñ`;
 *   2. format characters (Unicode Cf: zero-width space and joiners, BOM, bidi marks) are removed;
 *   3. leading and trailing whitespace is trimmed;
 *   4. the first character is upper-cased; `Ñ` is its own letter; LETTER_FOLDS applies;
 *      any other letter loses its accents (`Ó` → `O`, `Ü` → `U`).
 * Null (→ defaultShard) when the result is not one of ROUTING_ALPHABET: an empty
 * name, digits, punctuation, symbols and emoji, and letters of other scripts
 * (Greek, Cyrillic, CJK, …).
 */
export function routingLetter(name: string): string | null {
  const cleaned = name
    .normalize('NFKC')
    .replace(/\p{Cf}/gu, '')
    .trim();
  const first = [...cleaned][0];
  if (first === undefined) return null;
  const upper = first.toUpperCase();
  // ß is looked up before upper-casing: its upper case is the two letters "SS".
  const folded = LETTER_FOLDS[first] ?? LETTER_FOLDS[upper];
  if (folded !== undefined) return folded;
  if (upper === 'Ñ') return 'Ñ';
  const base = upper.normalize('NFD').replace(/\p{M}+/gu, '');
  return letterIndex(base) >= 0 ? base : null;
}
