import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const npmrc = readFileSync(join(root, '.npmrc'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { hasInstallScript?: boolean; version?: string }>;
};

describe('npm install-script policy', () => {
  it('makes an unreviewed dependency install script fail the install', () => {
    const settings = npmrc.split('\n').filter((line) => !line.startsWith('#') && line.includes('='));
    expect(settings).toContain('strict-allow-scripts=true');
    expect(
      settings.some((line) => line.startsWith('dangerously-allow-all-scripts') || line.startsWith('ignore-scripts')),
    ).toBe(false);
  });

  it('lists, reviewed, every dependency in the lockfile that has an install script, and nothing else', () => {
    const withScripts = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.hasInstallScript === true)
      .map(([path]) => path.replace(/^.*node_modules\//, ''))
      .sort();
    // esbuild's postinstall checks (and if needed repairs) its platform binary; the rest install without scripts.
    expect(withScripts).toEqual(['esbuild']);
    expect(pkg.allowScripts).toEqual({ esbuild: true });
  });
});
