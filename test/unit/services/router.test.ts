import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/services/shared/errors.js';
import { routingLetter } from '../../../src/services/shared/routing.js';
import { createShardRouter, parseShardMap } from '../../../src/services/web/shard-router.js';
import * as topologyAlphabet from '../../../src/topology/alphabet.js';
import { REFERENCE_MAP } from './helpers.js';

describe('routingLetter', () => {
  it.each([
    ['Arroz', 'A'],
    ['arroz', 'A'],
    ['  manzana ', 'M'],
    ['Ñame', 'Ñ'],
    ['ñandú', 'Ñ'],
    ['N\u0303ame', 'Ñ'], // decomposed Ñ
    ['Óleo', 'O'],
    ['éclair', 'E'],
    ['Ü', 'U'],
    ['7up', null],
    ['#tag', null],
    ['', null],
    ['   ', null],
    ['Ωmega', null],
  ])('%j → %j', (name, letter) => {
    expect(routingLetter(name)).toBe(letter);
  });

  // Letters outside A–Z and Ñ that used to go to the default shard.
  it.each([
    ['ßuper', 'S'],
    ['ẞ', 'S'],
    ['Œuvre', 'O'],
    ['œil', 'O'],
    ['Ørsted', 'O'],
    ['æble', 'A'],
    ['Łódź', 'L'],
    ['\uFF21rroz', 'A'], // full-width Ａ
    ['\uFF4Eandu', 'N'], // full-width ｎ
    ['\u200BPan', 'P'], // leading zero-width space
    ['\uFEFF\u200D Zumo', 'Z'], // BOM, zero-width joiner, space
    ['\u2060ñame', 'Ñ'], // word joiner
    ['\uFB01deo', 'F'], // ligature ﬁ
    ['n\u0303u', 'Ñ'], // decomposed ñ, lower case
    ['\u200B', null],
    ['\u200B7up', null],
    ['😀 feliz', null],
    ['Яблоко', null],
  ])('normalises %j → %j', (name, letter) => {
    expect(routingLetter(name)).toBe(letter);
  });

  it('is the very function the topology checks use, so CLI and service cannot disagree', () => {
    expect(topologyAlphabet.routingLetter).toBe(routingLetter);
    expect(topologyAlphabet.routingLetter('N\u0303ame')).toBe('Ñ');
  });
});

describe('createShardRouter', () => {
  const router = createShardRouter(REFERENCE_MAP);

  it('routes by inclusive ranges with Ñ between N and O', () => {
    expect(router.shardFor('Manzana')).toBe('rsA');
    expect(router.shardFor('Naranja')).toBe('rsB');
    expect(router.shardFor('Ñame')).toBe('rsB');
    expect(router.shardFor('Zanahoria')).toBe('rsB');
    expect(router.shardFor('123')).toBe('rsA');
    expect(router.shards).toEqual(['rsA', 'rsB']);
    expect(router.shardFor('\u200BZumo')).toBe('rsB');
    expect(router.shardFor('Œuvre')).toBe('rsB');
    expect(router.shardFor('\uFF21rroz')).toBe('rsA');
  });

  it('follows the map, not a hard-coded A–M/N–Z split', () => {
    const three = createShardRouter({
      defaultShard: 'rsC',
      ranges: [
        { from: 'A', to: 'H', shard: 'rsA' },
        { from: 'I', to: 'N', shard: 'rsB' },
        { from: 'Ñ', to: 'Ñ', shard: 'rsD' },
        { from: 'O', to: 'Z', shard: 'rsC' },
      ],
      shards: { rsA: { urlEnv: 'A' }, rsB: { urlEnv: 'B' }, rsC: { urlEnv: 'C' }, rsD: { urlEnv: 'D' } },
    });
    expect(['Higo', 'Ińigo', 'Nuez', 'ñoquis', 'Óleo', '9'].map((n) => three.shardFor(n))).toEqual([
      'rsA',
      'rsB',
      'rsB',
      'rsD',
      'rsC',
      'rsC',
    ]);
  });

  it('sends letters outside every range to the default shard', () => {
    const partial = createShardRouter({
      defaultShard: 'rsB',
      ranges: [{ from: 'A', to: 'C', shard: 'rsA' }],
      shards: { rsA: { urlEnv: 'A' }, rsB: { urlEnv: 'B' } },
    });
    expect(partial.shardFor('Dátil')).toBe('rsB');
    expect(partial.shardFor('café')).toBe('rsA');
  });

  it.each([
    [{ ...REFERENCE_MAP, defaultShard: null }, /defaultShard is null/],
    [{ ...REFERENCE_MAP, defaultShard: 'rsX' }, /defaultShard rsX is not in shards/],
    [
      {
        ...REFERENCE_MAP,
        ranges: [
          { from: 'A', to: 'N', shard: 'rsA' },
          { from: 'N', to: 'Z', shard: 'rsB' },
        ],
      },
      /letter N is in two ranges/,
    ],
    [{ ...REFERENCE_MAP, ranges: [{ from: 'M', to: 'A', shard: 'rsA' }] }, /backwards/],
    [{ ...REFERENCE_MAP, ranges: [{ from: 'AB', to: 'C', shard: 'rsA' }] }, /single letters/],
    [{ ...REFERENCE_MAP, ranges: [{ from: 'A', to: 'C', shard: 'rsQ' }] }, /shard rsQ, which is not in shards/],
    [{ ...REFERENCE_MAP, shards: {} }, /no shards/],
  ])('rejects an invalid map (%#)', (map, message) => {
    expect(() => createShardRouter(map as never)).toThrow(message);
  });

  it('parses SHARD_MAP JSON and reports malformed JSON as a config error', () => {
    expect(parseShardMap(JSON.stringify(REFERENCE_MAP)).router.shardFor('Pan')).toBe('rsB');
    expect(() => parseShardMap('{"defaultShard":')).toThrow(ConfigError);
    expect(() => parseShardMap('[]')).toThrow(/expected/);
  });
});

describe('compareCodePoints', () => {
  it('orders like MongoDB (UTF-8 bytes = code points), also past U+FFFF', async () => {
    const { compareCodePoints, textKey } = await import('../../../src/services/web/products.js');
    const sorted = ['\u{1F34E}', '\uFF21', 'b', 'a', 'ab'].sort(compareCodePoints);
    expect(sorted).toEqual(['a', 'ab', 'b', '\uFF21', '\u{1F34E}']);
    const spanish = ['Oso', 'Ñu', 'Nuez', 'nz'].sort((x, y) => compareCodePoints(textKey(x), textKey(y)));
    expect(spanish).toEqual(['Nuez', 'nz', 'Ñu', 'Oso']);
  });
});
