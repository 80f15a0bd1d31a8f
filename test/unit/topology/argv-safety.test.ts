import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../../src/topology/load.js';

const reference = readFileSync(join(import.meta.dirname, '../../../topology.yaml'), 'utf8');
const imageLine = /^image: .*$/m.exec(reference)?.[0] ?? '';

/** The error codes with their paths, for the reference topology with one substitution. */
function errorsWith(from: string | RegExp, to: string): string[] {
  const text = reference.replace(from, to);
  expect(text).not.toBe(reference);
  return parseTopology(text, 't.yaml').errors.map((found) => `${found.code} ${found.path.join('.')}`);
}

describe('image references that reach incus argv', () => {
  it.each(['images:ubuntu/22.04', 'debian12-distctl', 'images:debian/12/cloud', 'local:a1b2c3d4e5f6'])(
    'accepts %s',
    (image) => {
      expect(imageLine).not.toBe('');
      expect(parseTopology(reference.replace(imageLine, `image: "${image}"`), 't.yaml').errors).toEqual([]);
    },
  );

  it.each(['--config=security.privileged=true', '-c', 'images: ubuntu', 'images:-x', 'a b', 'img\nx'])(
    'refuses %j',
    (image) => {
      expect(errorsWith(imageLine, `image: ${JSON.stringify(image)}`)).toEqual(['invalid-image image']);
    },
  );

  it("refuses an option as one container's own image", () => {
    expect(errorsWith('  - name: db2\n', '  - name: db2\n    image: "--profile=x"\n')).toEqual([
      'invalid-image containers.3.image',
    ]);
  });
});

describe('database names that reach connection strings', () => {
  it('accepts 63 bytes and refuses 64', () => {
    expect(
      parseTopology(reference.replace('database: auth_db', `database: ${'a'.repeat(63)}`), 't.yaml').errors,
    ).toEqual([]);
    expect(errorsWith('database: auth_db', `database: ${'a'.repeat(64)}`)).toEqual([
      'invalid-database-name mongodb.standalones.0.database',
    ]);
  });

  it.each([
    'auth_db?authMechanism=PLAIN&x=1',
    'a/b',
    'a\\\\b',
    'a.b',
    'a b',
    'a\\"b',
    'a$b',
    'a\\0b',
    'a\\nb',
    'a#b',
    'a%2Fb',
    'ñandú',
  ])('refuses "%s"', (name) => {
    expect(errorsWith('database: auth_db', `database: "${name}"`)).toEqual([
      'invalid-database-name mongodb.standalones.0.database',
    ]);
  });
});
