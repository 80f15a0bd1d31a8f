import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/topology/load.js';
import { routingLetter } from '../../../src/topology/alphabet.js';

const reference = readFileSync(join(import.meta.dirname, '../../../topology.yaml'), 'utf8');

describe('reference topology', () => {
  it('is valid, with the fragility warnings it deserves', () => {
    const report = parseTopology(reference, 'topology.yaml');
    expect(report.errors).toEqual([]);
    expect(report.topology).not.toBeNull();
    expect(report.warnings.map((warning) => warning.code).sort()).toEqual([
      'members-share-container',
      'members-share-container',
      'users-on-standalone',
    ]);
  });
});

describe('semantic checks', () => {
  const edit = (from: string, to: string): string => {
    expect(reference).toContain(from);
    return reference.replace(from, to);
  };

  it('reports every problem at once, not only the first', () => {
    const text = edit('    ipv4: 10.10.10.13', '    ipv4: 10.10.10.12').replace(
      '    ipv4: 10.10.10.14',
      '    ipv4: 192.168.1.4',
    );
    const codes = parseTopology(text, 't.yaml').errors.map((found) => found.code);
    expect(codes).toEqual(expect.arrayContaining(['duplicate-ip', 'ip-outside-subnet']));
  });

  it('warns on an even member count', () => {
    const text = edit('        - { container: db2, port: 27019, priority: 1 }\n', '');
    const report = parseTopology(text, 't.yaml');
    expect(report.errors).toEqual([]);
    expect(report.warnings.map((warning) => warning.code)).toContain('even-members');
  });

  it('accepts a gap when a default shard takes it', () => {
    const text = edit('{ from: N, to: Z, replicaSet: rsB }', '{ from: P, to: Z, replicaSet: rsB }');
    expect(parseTopology(text, 't.yaml').errors).toEqual([]);
  });

  it('follows a third shard and a renamed network', () => {
    const text = edit(
      '{ from: N, to: Z, replicaSet: rsB }',
      '{ from: N, to: R, replicaSet: rsB }\n    - { from: S, to: Z, replicaSet: rsC }',
    )
      .replace('  - name: db3\n', '  - name: db4\n    ipv4: 10.10.10.15\n  - name: db3\n')
      .replace(
        '  standalones:',
        '    - name: rsC\n      database: products_db\n      env: DB4_URL\n      members:\n        - { container: db4, port: 27017, priority: 1 }\n  standalones:',
      )
      .replace('name: incusbr0', 'name: platbr0');
    const report = parseTopology(text, 't.yaml');
    expect(report.errors).toEqual([]);
    expect(report.topology?.sharding?.ranges).toHaveLength(3);
  });

  it('warns when an exposed port binds beyond loopback', () => {
    const report = parseTopology(edit('listen: 127.0.0.1:3000', 'listen: 0.0.0.0:3000'), 't.yaml');
    expect(report.warnings.map((warning) => warning.code)).toContain('exposed-beyond-loopback');
  });

  it('requires sharding when a web service exists', () => {
    const text = reference.replace(/sharding:\n(  .*\n|    .*\n)+/, '');
    expect(parseTopology(text, 't.yaml').errors.map((found) => found.code)).toContain('missing-sharding');
  });
});

describe('routing letters', () => {
  it.each([
    ['Arroz', 'A'],
    ['arroz', 'A'],
    ['Óleo', 'O'],
    ['Ñame', 'Ñ'],
    ['ñandú', 'Ñ'],
    ['Émbolo', 'E'],
    ['  pan', 'P'],
    ['7up', null],
    ['', null],
    ['¡Hola', null],
  ])('%s → %s', (name, letter) => {
    expect(routingLetter(name)).toBe(letter);
  });
});
