import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The packages a module loads before any of its code runs: everything reachable
 * through static imports (`import type` and `import()` excluded), as Node
 * resolves them. Start-up time is mostly this graph.
 */
function staticPackages(entry: string): Set<string> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?'([^']+)';/gms)) {
      const specifier = match[1] ?? '';
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else if (!specifier.startsWith('node:'))
        packages.add(
          specifier
            .split('/')
            .slice(0, specifier.startsWith('@') ? 2 : 1)
            .join('/'),
        );
    }
  };
  visit(join(import.meta.dirname, '../../../src', entry));
  return packages;
}

describe('start-up: what each entry loads before it runs', () => {
  it('the CLI (`--help`, and every command before its action) loads commander and chalk only', () => {
    expect([...staticPackages('cli/main.ts')].sort()).toEqual(['chalk', 'commander']);
  });

  it('validate adds only the topology parsers', () => {
    expect([...staticPackages('commands/validate.ts')].sort()).toEqual(['yaml', 'zod']);
  });

  it('plan loads no database driver, web framework, bundler, metrics library or spinner', () => {
    expect([...staticPackages('commands/plan.ts')].sort()).toEqual(['yaml', 'zod']);
  });
});
