import { z } from 'zod';
import { topologySchema } from '../topology/schema.js';
import type { CommandResult } from './result.js';

/** JSON Schema of topology.yaml, generated from the zod schema that `validate` applies (so the two cannot disagree). */
export function topologyJsonSchema(): Record<string, unknown> {
  // `input`: what a YAML author writes, where keys with defaults may be left out.
  const generated = z.toJSONSchema(topologySchema, { io: 'input', target: 'draft-2020-12' });
  return {
    ...generated,
    title: 'distctl topology',
    description:
      'topology.yaml: the platform distctl provisions on Incus. `distctl validate` adds the semantic checks.',
  };
}

/** The schema as the file `topology.schema.json` holds it. */
export function topologyJsonSchemaText(): string {
  return `${JSON.stringify(topologyJsonSchema(), null, 2)}\n`;
}

/** `distctl schema`: prints the topology's JSON Schema (for editors: `# yaml-language-server: $schema=…`). */
export function schemaCommand(): CommandResult {
  return { exitCode: 0, human: topologyJsonSchemaText().trimEnd(), json: { schema: topologyJsonSchema() } };
}

/** The part of a JSON Schema node the reference reads. */
interface SchemaNode {
  readonly type?: string;
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly description?: string;
  readonly pattern?: string;
  readonly minLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minItems?: number;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly items?: SchemaNode;
  readonly anyOf?: readonly SchemaNode[];
  readonly oneOf?: readonly SchemaNode[];
}

/**
 * The topology reference of docs/topology.md as a Markdown table, one row per
 * key, generated from the JSON Schema (a unit test keeps the page in step).
 */
export function topologyReference(schema: SchemaNode = topologyJsonSchema() as SchemaNode): string {
  const rows: string[] = ['| key | type | required | default | rule |', '|---|---|---|---|---|'];
  const visit = (node: SchemaNode, prefix: string, label: string): void => {
    for (const [key, field] of Object.entries(node.properties ?? {})) {
      const path = `${prefix}${key}`;
      const required = node.required?.includes(key) ? 'yes' : 'no';
      const fallback = field.default === undefined ? '' : code(JSON.stringify(field.default));
      rows.push(`| ${code(path)}${label} | ${typeText(field)} | ${required} | ${fallback} | ${ruleText(field)} |`);
      for (const [child, variant] of objectsUnder(field, path)) visit(variant, child, variantLabel(variant));
    }
  };
  visit(schema, '', '');
  return rows.join('\n');
}

/** The mappings nested in a field, with the path prefix their keys get. */
function objectsUnder(field: SchemaNode, path: string): [string, SchemaNode][] {
  const variants = field.anyOf ?? field.oneOf;
  if (variants) return variants.flatMap((variant) => objectsUnder(variant, path));
  if (field.type === 'array' && field.items) return objectsUnder(field.items, `${path}[]`);
  return field.properties ? [[`${path}.`, field]] : [];
}

/** ` (kind: web)` for one variant of a union told apart by a constant key. */
function variantLabel(variant: SchemaNode): string {
  const tag = Object.entries(variant.properties ?? {}).find(([, field]) => field.const !== undefined);
  return tag ? ` (${tag[0]}: ${String(tag[1].const)})` : '';
}

function typeText(node: SchemaNode): string {
  if (node.const !== undefined) return code(JSON.stringify(node.const));
  if (node.enum) return node.enum.map((value) => code(JSON.stringify(value))).join(' \\| ');
  const variants = node.anyOf ?? node.oneOf;
  if (variants) return variants.map(typeText).join(' or ');
  if (node.type === 'array') return `list of ${node.items ? typeText(node.items) : 'values'}`;
  if (node.type === 'object')
    return node.properties ? `mapping {${Object.keys(node.properties).join(', ')}}` : 'mapping';
  return node.type ?? 'any';
}

function ruleText(node: SchemaNode): string {
  const rules: string[] = [];
  if (node.description) rules.push(node.description);
  if (node.minLength === 1) rules.push('not empty');
  else if (node.minLength !== undefined) rules.push(`at least ${node.minLength} characters`);
  if (node.pattern) rules.push(`matches ${code(node.pattern)}`);
  if (node.minimum !== undefined && node.maximum !== undefined) rules.push(`${node.minimum}–${node.maximum}`);
  else if (node.minimum !== undefined) rules.push(`≥ ${node.minimum}`);
  else if (node.maximum !== undefined) rules.push(`≤ ${node.maximum}`);
  if (node.minItems !== undefined) rules.push(`at least ${node.minItems}`);
  return rules.join('; ');
}

/** Inline code in a table cell (a `|` would end the cell). */
function code(text: string): string {
  return `\`${text.replace(/\|/g, '\\|')}\``;
}
