import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { topologyJsonSchema, topologyJsonSchemaText, topologyReference } from '../../../src/commands/schema.js';
import { topologySchema } from '../../../src/topology/schema.js';
import { envelopeOf, runCli } from './run-cli.js';

const root = join(import.meta.dirname, '../../..');
const badDir = join(root, 'test/fixtures/topologies/bad');
const BEGIN = '<!-- generated from the topology schema: begin -->';
const END = '<!-- generated from the topology schema: end -->';

// A maintained JSON-Schema validator, as editors use, judges the generated schema.
const validator = new Ajv2020({ allErrors: true, strict: true }).compile(topologyJsonSchema());

describe('distctl schema', () => {
  it('prints the JSON Schema that topology.schema.json holds (regenerate with -u)', async () => {
    const run = await runCli(['schema']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(topologyJsonSchemaText());
    await expect(topologyJsonSchemaText()).toMatchFileSnapshot(join(root, 'topology.schema.json'));
  });

  it('topology.yaml names the schema on its first line', () => {
    expect(readFileSync(join(root, 'topology.yaml'), 'utf8').split('\n')[0]).toBe(
      '# yaml-language-server: $schema=./topology.schema.json',
    );
  });

  it('accepts the reference topology', () => {
    const valid = validator(parse(readFileSync(join(root, 'topology.yaml'), 'utf8')));
    expect(validator.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  const fixtures = readdirSync(badDir).filter((name) => name.endsWith('.yaml') && name !== 'not-yaml.yaml');
  const shapeCodes = ['unknown-key', 'missing-key', 'wrong-type', 'invalid-value', 'not-a-mapping'];

  it.each(fixtures)("judges %s as validate's shape check does", (file) => {
    const text = readFileSync(join(badDir, file), 'utf8');
    const raw: unknown = parse(text) ?? null;
    const zodAccepts = topologySchema.safeParse(raw).success;
    expect(validator(raw)).toBe(zodAccepts);
    // Fixtures whose problem is the shape are rejected; the rest fail only distctl validate's semantic checks.
    const code = /^# expect-code: (.+)$/m.exec(text)?.[1] ?? '';
    expect(zodAccepts).toBe(!shapeCodes.includes(code));
  });
});

describe('docs/topology.md', () => {
  it('holds the key reference generated from the schema (regenerate with -u)', async () => {
    const path = join(root, 'docs/topology.md');
    const page = readFileSync(path, 'utf8');
    const [begin, end] = [page.indexOf(BEGIN), page.indexOf(END)];
    expect(begin, 'the page keeps its begin/end markers').toBeGreaterThan(0);
    expect(end).toBeGreaterThan(begin);
    const expected = `${page.slice(0, begin + BEGIN.length)}\n${topologyReference()}\n${page.slice(end)}`;
    await expect(expected).toMatchFileSnapshot(path);
  });

  it('lists every key, nested ones included', () => {
    const reference = topologyReference();
    for (const key of [
      '`network.subnet`',
      '`mongodb.replicaSets[].members[].priority`',
      '`services[].auth` (kind: web)',
      '`expose[].listen`',
    ]) {
      expect(reference).toContain(key);
    }
  });
});

describe('envelope of schema', () => {
  it('carries the schema itself with --json', async () => {
    expect(envelopeOf(await runCli(['schema', '--json'])).schema).toEqual(topologyJsonSchema());
  });
});
