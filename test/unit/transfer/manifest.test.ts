import { describe, expect, it } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import { parseManifest } from '../../../src/transfer/manifest.js';

const sha256 = 'a'.repeat(64);
const valid = {
  format: 2,
  project: 'p',
  exportedAt: '2026-11-28T00:00:00Z',
  distctlVersion: '0.1.0',
  key: null,
  encryption: null,
  topology: { file: 'topology.yaml', sha256, bytes: 5 },
  secrets: [{ file: 'secrets/jwt-secret', sha256, bytes: 3 }],
  containers: [{ name: 'db1', file: 'db1.tar.gz', sha256, bytes: 10 }],
};

describe('parseManifest', () => {
  it('reads a manifest written by export', () => {
    expect(parseManifest(JSON.stringify(valid), 'm.json')).toEqual(valid);
  });

  it.each([
    ['not JSON', '{', 'm.json is not valid JSON'],
    [
      'another format',
      JSON.stringify({ ...valid, format: 1 }),
      'format: must be 2 (export the deployment again with this distctl)',
    ],
    [
      'a secret outside secrets/',
      JSON.stringify({ ...valid, secrets: [{ file: 'secrets/../../x', sha256, bytes: 1 }] }),
      'must be a plain file name inside secrets/',
    ],
    [
      'a file listed twice',
      JSON.stringify({ ...valid, containers: [{ ...valid.containers[0], file: 'topology.yaml' }] }),
      'm.json lists topology.yaml twice',
    ],
    [
      'plain files in an encrypted bundle',
      JSON.stringify({ ...valid, key: { kdf: 'scrypt', salt: 'c2FsdHNhbHRzYWx0c2FsdA==' }, encryption: 'aes-256-gcm' }),
      'm.json mixes encrypted and plain files',
    ],
    [
      'a file outside the bundle',
      JSON.stringify({ ...valid, containers: [{ ...valid.containers[0], file: '../../etc/passwd' }] }),
      'must be a plain file name inside the bundle',
    ],
    [
      'a malformed checksum',
      JSON.stringify({ ...valid, containers: [{ ...valid.containers[0], sha256: 'xyz' }] }),
      'm.json is not a distctl export manifest',
    ],
  ])('rejects %s', (_, text, message) => {
    const error = (() => {
      try {
        parseManifest(text, 'm.json');
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(DistctlError);
    expect(`${(error as DistctlError).message} ${(error as DistctlError).details.join(' ')}`).toContain(message);
  });
});
