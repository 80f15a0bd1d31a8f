/**
 * The routing alphabet for product names: A..N, then Ñ as its own letter, then O..Z.
 * Shared by topology checks (range overlap and coverage) and the web service's router.
 */
export const ROUTING_ALPHABET: readonly string[] = [...'ABCDEFGHIJKLMN', 'Ñ', ...'OPQRSTUVWXYZ'];

/** Position of a routing letter in the alphabet, or -1. */
export function letterIndex(letter: string): number {
  return ROUTING_ALPHABET.indexOf(letter);
}

/**
 * The routing letter of a product name: first character, case-folded, accents
 * removed (Ó → O) except Ñ which stays its own letter. Null for names that do
 * not start with a letter of the alphabet (digits, symbols), which go to the
 * default shard.
 */
export function routingLetter(name: string): string | null {
  const first = [...name.trim()][0];
  if (first === undefined) return null;
  const upper = first.toLocaleUpperCase('es');
  if (upper === 'Ñ') return 'Ñ';
  const base = upper.normalize('NFD').replace(/\p{M}+/gu, '');
  return letterIndex(base) >= 0 ? base : null;
}
