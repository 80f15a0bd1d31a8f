import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../src/errors/index.js';

/** Every .ts file under a directory, recursively. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

describe('the error code list', () => {
  it('is sorted and has no duplicates, so adding a code is one line in one obvious place', () => {
    expect([...ERROR_CODES]).toEqual([...new Set(ERROR_CODES)].sort());
  });

  it('names only codes that some source file raises (no dead codes)', () => {
    // The list itself does not count as a use.
    const text = sources('src')
      .map((file) => readFileSync(file, 'utf8').replace(/export const ERROR_CODES = \[[^\]]*\] as const;/, ''))
      .join('\n');
    expect(ERROR_CODES.filter((code) => !text.includes(`'${code}'`))).toEqual([]);
  });
});
