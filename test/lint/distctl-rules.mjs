// distctl's own lint rules, in ESLint's plugin format (oxlint loads it through `jsPlugins`;
// ESLint could load it unchanged). Each rule guards a boundary of the architecture that
// TypeScript alone cannot see.
import path from 'node:path';

/** The `src` directory a file belongs to (its nearest ancestor named `src`), or null outside one. */
function srcRootOf(file) {
  const parts = file.split(path.sep);
  const at = parts.lastIndexOf('src', parts.length - 2);
  return at < 0 ? null : parts.slice(0, at + 1).join(path.sep);
}

/** True when `file` is `dir` or inside it. */
function inside(file, dir) {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Strips parentheses, `await` and non-null assertions to reach the expression that produced a value. */
function unwrap(node) {
  let current = node;
  while (
    current &&
    (current.type === 'AwaitExpression' ||
      current.type === 'TSNonNullExpression' ||
      current.type === 'ParenthesizedExpression')
  ) {
    current = current.type === 'AwaitExpression' ? current.argument : current.expression;
  }
  return current;
}

/** `JSON.parse(…)` or `<anything>.json()` (fetch's Response, undici, …): text that came from outside the program. */
function isParse(node) {
  if (!node || node.type !== 'CallExpression') return false;
  const callee = node.callee;
  if (callee.type !== 'MemberExpression' || callee.computed || callee.property.type !== 'Identifier') return false;
  if (callee.property.name === 'json' && node.arguments.length === 0) return true;
  return callee.property.name === 'parse' && callee.object.type === 'Identifier' && callee.object.name === 'JSON';
}

/** `as unknown` widens; it asserts nothing about the parsed value, so it stays allowed. */
function assertsAShape(typeAnnotation) {
  return typeAnnotation.type !== 'TSUnknownKeyword';
}

const noUncheckedParse = {
  meta: {
    type: 'problem',
    docs: { description: 'Parsed JSON is validated (zod), never asserted into a type with `as`' },
    messages: {
      cast: 'A type assertion on parsed input trusts it unchecked: validate it with a zod schema (`schema.parse(JSON.parse(text))`).',
    },
    schema: [],
  },
  create(context) {
    const check = (node) => {
      if (isParse(unwrap(node.expression)) && assertsAShape(node.typeAnnotation))
        context.report({ node, messageId: 'cast' });
    };
    return { TSAsExpression: check, TSTypeAssertion: check };
  },
};

/** The module specifiers of a node that imports or re-exports, with the node to report on. */
function specifierOf(node) {
  const source = node.source;
  return source && source.type === 'Literal' && typeof source.value === 'string' ? source.value : null;
}

const importBoundaries = {
  meta: {
    type: 'problem',
    docs: {
      description: 'src/services imports nothing from the rest of src/; nothing outside src/cli imports src/cli',
    },
    messages: {
      servicesOut:
        '`{{spec}}` leaves src/services: the services are a separate deployable and import nothing of the CLI (move what both need under src/services/shared/).',
      intoCli:
        '`{{spec}}` imports src/cli from a core stage: the CLI is the edge, core stages must not depend on it (move the shared type out of src/cli).',
    },
    schema: [],
  },
  create(context) {
    const file = path.resolve(context.filename ?? context.getFilename());
    const src = srcRootOf(file);
    if (src === null) return {};
    const [SERVICES, CLI] = [path.join(src, 'services'), path.join(src, 'cli')];
    const fromServices = inside(file, SERVICES);
    const fromCli = inside(file, CLI);
    const check = (node) => {
      const spec = specifierOf(node);
      if (spec === null || !spec.startsWith('.')) return;
      const target = path.resolve(path.dirname(file), spec);
      if (!inside(target, src)) return;
      if (fromServices && !inside(target, SERVICES)) context.report({ node, messageId: 'servicesOut', data: { spec } });
      else if (!fromCli && inside(target, CLI)) context.report({ node, messageId: 'intoCli', data: { spec } });
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};

export default {
  meta: { name: 'distctl' },
  rules: { 'no-unchecked-parse': noUncheckedParse, 'import-boundaries': importBoundaries },
};
