import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatProblem, parseTopology } from '../../../src/topology/load.js';

const reference = readFileSync(join(import.meta.dirname, '../../../topology.yaml'), 'utf8');

function edit(from: string, to: string): string {
  expect(reference).toContain(from);
  return reference.replace(from, to);
}

/** 1-based line of the first occurrence of `text` in `source`. */
function lineOf(source: string, text: string): number {
  const index = source.indexOf(text);
  expect(index).toBeGreaterThanOrEqual(0);
  return source.slice(0, index).split('\n').length;
}

describe('did you mean', () => {
  it('suggests only keys valid at that path, never the unknown key itself', () => {
    const text = edit('  gateway: 10.10.10.1\n', '  gateway: 10.10.10.1\n  port: 3\n');
    const [found, ...rest] = parseTopology(text, 't.yaml').errors;
    expect(rest).toEqual([]);
    expect(found).toMatchObject({ code: 'unknown-key', path: ['network', 'port'] });
    expect(found?.hint).toBe('Remove it; the keys here are name, subnet, gateway, nat, tunnel.');
  });

  it('suggests a key of this mapping, not a similar key that belongs elsewhere', () => {
    // "imag" is one edit from the top-level "image", but a network has no image.
    const text = edit('  nat: true\n', '  nat: true\n  imag: x\n');
    expect(parseTopology(text, 't.yaml').errors.map((found) => found.hint)).toEqual([
      'Remove it; the keys here are name, subnet, gateway, nat, tunnel.',
    ]);
  });

  it('under kind: web, suggests the web service keys only', () => {
    const text = edit('    auth: auth-server\n', '    auth: auth-server\n    databas: users\n');
    const errors = parseTopology(text, 't.yaml').errors;
    expect(errors.map((found) => [found.code, found.hint])).toEqual([
      ['unknown-key', 'Remove it; the keys here are name, kind, container, port, auth.'],
    ]);
  });
});

describe('a misspelt required key', () => {
  it('is one error at the typo that names the missing key, not two', () => {
    const text = edit('  name: incusbr0\n', '  nmae: incusbr0\n');
    const errors = parseTopology(text, 't.yaml').errors;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      code: 'unknown-key',
      path: ['network', 'nmae'],
      hint: 'Did you mean "name"? It is required here and missing.',
    });
    expect(errors[0]?.location?.line).toBe(lineOf(text, 'nmae'));
  });

  it('prefers the missing key over a present one that is as close', () => {
    // "pot" is one edit from the missing "port" and two from "to", a key of shard ranges elsewhere.
    const text = edit('{ container: db1, port: 27018, priority: 2 }', '{ container: db1, pot: 27018, priority: 2 }');
    const errors = parseTopology(text, 't.yaml').errors;
    expect(errors.map(formatProblem)).toEqual([
      expect.stringContaining(
        'mongodb.replicaSets[0].members[1].pot: unknown key "pot" — Did you mean "port"? It is required here and missing.',
      ),
    ]);
  });

  it('still reports a missing key that no typo explains', () => {
    const text = edit('  gateway: 10.10.10.1\n', '  zzzzzz: 10.10.10.1\n');
    expect(parseTopology(text, 't.yaml').errors.map((found) => found.code)).toEqual(['missing-key', 'unknown-key']);
  });
});

describe('YAML syntax errors point at the offending line', () => {
  it.each([
    [
      'an unclosed flow mapping',
      '{ container: db1, port: 27018, priority: 2 }',
      '{ container: db1, port: 27018, priority: 2 ',
    ],
    ['an unclosed flow sequence', '{ from: A, to: M, replicaSet: rsA }', '[ A, M, rsA'],
    ['an unclosed double quote', 'version: "7.0"', 'version: "7.0'],
    ['a missing colon', '  gateway: 10.10.10.1', '  gateway 10.10.10.1'],
    ['a duplicate key', '  nat: true', '  nat: true\n  nat: false'],
  ])('%s', (_what, from, to) => {
    const text = edit(from, to);
    const errors = parseTopology(text, 't.yaml').errors;
    expect(errors[0]?.code).toBe('yaml-syntax');
    const offending = to.includes('\n') ? lineOf(text, to) + 1 : lineOf(text, to);
    expect(errors[0]?.location?.line).toBe(offending);
  });
});
