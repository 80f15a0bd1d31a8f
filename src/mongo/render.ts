import { readFile } from 'node:fs/promises';
import { DistctlError } from '../errors/index.js';

/**
 * Values a template may reference: `{{name}}` inserts one, `{{#name}}…{{/name}}` keeps a block only when it is
 * `true`.
 */
export type TemplateVars = Readonly<Record<string, string | number | boolean>>;

/** The repository's `templates/` directory; resolved from this module so it works from both `src/` and `dist/`. */
export const TEMPLATES_DIR = new URL('../../templates/', import.meta.url);

/**
 * Reads `templates/<name>` and renders it with `vars`. Generic on purpose:
 * mongod units and configs use it today, service units can use it later.
 */
export async function renderTemplate(name: string, vars: TemplateVars): Promise<string> {
  const text = await readFile(new URL(name, TEMPLATES_DIR), 'utf8');
  return renderTemplateText(text, vars, name);
}

const SECTION =
  /^[ \t]*\{\{#(\w+)\}\}[ \t]*\n([\s\S]*?)^[ \t]*\{\{\/\1\}\}[ \t]*(?:\n|$)|\{\{#(\w+)\}\}([\s\S]*?)\{\{\/\3\}\}/gm;
const VARIABLE = /\{\{\s*(\w+)\s*\}\}/g;

/**
 * Renders template text. A section tag alone on its line takes the line with
 * it, so optional YAML blocks leave no blank lines. A name the template uses
 * but `vars` lacks is an error: a silently empty value in a unit or config file
 * would only surface as a failing mongod later.
 */
export function renderTemplateText(text: string, vars: TemplateVars, name = 'template'): string {
  const lookup = (key: string): string | number | boolean => {
    const value = vars[key];
    if (value === undefined) {
      throw new DistctlError('TEMPLATE_VARIABLE_MISSING', `Template ${name} uses {{${key}}}, which was not provided.`, {
        hint: 'This is a bug in distctl: the template and the code rendering it disagree.',
      });
    }
    return value;
  };
  const withSections = text.replace(
    SECTION,
    (
      _match,
      lineKey: string | undefined,
      lineBody: string | undefined,
      inlineKey: string | undefined,
      inlineBody: string | undefined,
    ) => {
      const key = lineKey ?? inlineKey ?? '';
      const value = lookup(key);
      if (typeof value !== 'boolean') {
        throw new DistctlError(
          'TEMPLATE_SECTION_NOT_BOOLEAN',
          `Template ${name} opens section {{#${key}}}, but ${key} is not true/false.`,
          {
            hint: 'This is a bug in distctl: the template and the code rendering it disagree.',
          },
        );
      }
      return value ? (lineBody ?? inlineBody ?? '') : '';
    },
  );
  return withSections.replace(VARIABLE, (_match, key: string) => String(lookup(key)));
}
