import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { topologyJsonSchema } from '../../../src/commands/schema.js';
import { deriveDesiredState } from '../../../src/derive/index.js';
import { formatProblem, parseTopology } from '../../../src/topology/load.js';

const root = join(import.meta.dirname, '../../..');
const cluster = readFileSync(join(root, 'topology.cluster.yaml'), 'utf8');

const edit = (from: string, to: string): string => {
  expect(cluster).toContain(from);
  return cluster.replace(from, to);
};

describe('topology.cluster.yaml', () => {
  it('is valid, and derives a remote, two spread sets and the VXLAN tunnel', () => {
    const report = parseTopology(cluster, 'topology.cluster.yaml');
    expect(report.errors).toEqual([]);
    expect(report.warnings.map((warning) => warning.code)).toEqual(['users-on-standalone']);
    if (report.topology === null) throw new Error('no topology');
    const desired = deriveDesiredState(report.topology);
    expect(desired.remote).toBe('distcl');
    expect(desired.spreadSets).toEqual([
      { name: 'rsA', containers: ['rsa-1', 'rsa-2', 'rsa-3'] },
      { name: 'rsB', containers: ['rsb-1', 'rsb-2', 'rsb-3'] },
    ]);
    expect(desired.network.tunnel).toEqual({ id: 4247, group: '239.0.0.47', interface: null });
  });

  it('is accepted by the committed JSON schema', () => {
    const validator = new Ajv2020({ allErrors: true, strict: true }).compile(topologyJsonSchema());
    expect(validator(parse(cluster))).toBe(true);
    expect(validator.errors ?? []).toEqual([]);
  });

  it('the reference topology derives no remote, no spread and no tunnel', () => {
    const report = parseTopology(readFileSync(join(root, 'topology.yaml'), 'utf8'), 'topology.yaml');
    if (report.topology === null) throw new Error('no topology');
    const desired = deriveDesiredState(report.topology);
    expect([desired.remote, desired.spreadSets, desired.network.tunnel]).toEqual([null, [], null]);
  });
});

describe('cluster validation', () => {
  const errors = (text: string) => parseTopology(text, 'c.yaml').errors;

  it('rejects two members of a spread set in one container, at the spread key with file:line:col', () => {
    const found = errors(
      edit('{ container: rsa-2, port: 27017, priority: 2 }', '{ container: rsa-1, port: 27018, priority: 2 }'),
    );
    expect(found.map((problem) => problem.code)).toEqual(['spread-shared-container']);
    expect(found[0]?.message).toBe(
      'replica set rsA cannot be spread: members[0] and members[1] both live in container rsa-1',
    );
    expect(formatProblem(found[0]!)).toContain('c.yaml:45:7 mongodb.replicaSets[0].spread: ');
  });

  it('rejects explicit targets of one spread set that coincide', () => {
    const text = edit(
      '  - { name: rsa-1, ipv4: 10.213.47.21 }',
      '  - { name: rsa-1, ipv4: 10.213.47.21, target: node2 }',
    ).replace('  - { name: rsa-3, ipv4: 10.213.47.23 }', '  - { name: rsa-3, ipv4: 10.213.47.23, target: node2 }');
    const found = errors(text);
    expect(found.map((problem) => [problem.code, problem.message])).toEqual([
      ['spread-same-target', 'replica set rsA cannot be spread: containers rsa-1 and rsa-3 both have target node2'],
    ]);
  });

  it('accepts distinct targets in a spread set, and the same target across sets', () => {
    const text = edit(
      '  - { name: rsa-1, ipv4: 10.213.47.21 }',
      '  - { name: rsa-1, ipv4: 10.213.47.21, target: node2 }',
    ).replace('  - { name: rsb-1, ipv4: 10.213.47.31 }', '  - { name: rsb-1, ipv4: 10.213.47.31, target: node2 }');
    expect(errors(text)).toEqual([]);
  });

  it('rejects a target that is no member name', () => {
    const found = errors(
      edit('  - { name: rsa-1, ipv4: 10.213.47.21 }', '  - { name: rsa-1, ipv4: 10.213.47.21, target: -x }'),
    );
    expect(found.map((problem) => [problem.code, problem.path.join('.')])).toEqual([
      ['invalid-target', 'containers.2.target'],
    ]);
  });

  it('rejects an image distctl would build when a remote is set', () => {
    const found = errors(edit('image: debian12-distctl', 'image: { build: debian/bookworm }'));
    expect(found.map((problem) => [problem.code, problem.path.join('.')])).toEqual([['build-on-remote', 'image']]);
  });

  it('suggests the key when spread or remote is misspelt', () => {
    const spread = errors(edit('      spread: true\n', '      sprad: true\n'));
    expect(spread.map((problem) => [problem.code, problem.hint])).toEqual([['unknown-key', 'Did you mean "spread"?']]);
    const remote = errors(edit('incus: { remote: distcl }', 'incus: { remot: distcl }'));
    expect(remote.map((problem) => [problem.code, problem.hint])).toEqual([
      ['unknown-key', 'Did you mean "remote"? It is required here and missing.'],
    ]);
  });

  it('rejects a network name too long for the VXLAN interface name', () => {
    const found = errors(edit('name: distclbr0', 'name: distclbr0abcd'));
    expect(found.map((problem) => [problem.code, problem.path.join('.')])).toEqual([
      ['network-name-too-long-for-tunnel', 'network.name'],
    ]);
    expect(errors(edit('name: distclbr0', 'name: distclbr0abc'))).toEqual([]);
  });

  it('rejects a VXLAN id out of range and a bad remote name', () => {
    const found = errors(edit('{ id: 4247,', '{ id: 16777216,').replace('remote: distcl', 'remote: "a b"'));
    expect(found.map((problem) => problem.path.join('.')).sort()).toEqual(['incus.remote', 'network.tunnel.id']);
  });
});
