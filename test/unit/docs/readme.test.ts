import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

// The repository explains itself: a short README whose links resolve, and no
// reference to documents that are not in the repository.
const root = join(import.meta.dirname, '../../..');
// Spelled in pieces so that this file does not match itself.
const OUTSIDE_DOCUMENTS = ['\\bS', 'PEC(\\.md)?\\b|shared/(S', 'PEC|S', 'TYLE)'].join('');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('README.md', () => {
  it('stays short (≤ 10 KB): what distctl is, the two commands, what to open next, links', () => {
    expect(Buffer.byteLength(readme)).toBeLessThanOrEqual(10 * 1024);
    expect(readme).toContain('sudo bin/distctl up');
    expect(readme).toContain('npm test');
    expect(readme).toContain('http://127.0.0.1:3000');
  });

  it('links only to files that exist', () => {
    const targets = [...readme.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)].map((match) => match[1] ?? '');
    const local = targets.filter((target) => !/^[a-z]+:/.test(target));
    expect(local.length).toBeGreaterThan(5);
    expect(local.filter((target) => !existsSync(join(root, target)))).toEqual([]);
  });

  it('nothing tracked refers to a specification or style guide outside the repository', async () => {
    const { stdout } = await execa('git', ['grep', '-nE', OUTSIDE_DOCUMENTS, '--', '.'], {
      cwd: root,
      reject: false,
    });
    expect(stdout).toBe('');
  });
});
