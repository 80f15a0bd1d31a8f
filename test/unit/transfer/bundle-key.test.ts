import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decryptFile,
  deriveKeys,
  encryptFile,
  macMatches,
  manifestMac,
  readBundleKey,
} from '../../../src/transfer/bundle-key.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-bundle-key-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SALT = 'c2FsdHNhbHRzYWx0c2FsdA==';

async function keys(passphrase = 'a passphrase of some length'): Promise<{ mac: Buffer; encryption: Buffer }> {
  await writeFile(join(dir, 'key'), `${passphrase}\n`, { mode: 0o600 });
  return deriveKeys(await readBundleKey(join(dir, 'key')), SALT);
}

describe('bundle encryption', () => {
  it('round-trips a file, and refuses a changed byte, another name, or another key', async () => {
    const { encryption } = await keys();
    await writeFile(join(dir, 'plain'), 'secret data '.repeat(10_000));
    await encryptFile(encryption, join(dir, 'plain'), join(dir, 'sealed'), 'secrets/x.enc');
    await decryptFile(encryption, join(dir, 'sealed'), join(dir, 'back'), 'secrets/x.enc');
    expect(await readFile(join(dir, 'back'), 'utf8')).toBe('secret data '.repeat(10_000));

    const sealed = await readFile(join(dir, 'sealed'));
    sealed.writeUInt8((sealed.at(100) ?? 0) ^ 1, 100);
    await writeFile(join(dir, 'changed'), sealed);
    await expect(
      decryptFile(encryption, join(dir, 'changed'), join(dir, 'out1'), 'secrets/x.enc'),
    ).rejects.toMatchObject({
      code: 'BUNDLE_DECRYPT_FAILED',
      message: 'secrets/x.enc could not be decrypted: wrong key, or the file was changed',
    });
    await expect(
      decryptFile(encryption, join(dir, 'sealed'), join(dir, 'out2'), 'secrets/y.enc'),
    ).rejects.toMatchObject({ code: 'BUNDLE_DECRYPT_FAILED' });
    const other = await keys('another passphrase, long enough');
    await expect(
      decryptFile(other.encryption, join(dir, 'sealed'), join(dir, 'out3'), 'secrets/x.enc'),
    ).rejects.toMatchObject({ code: 'BUNDLE_DECRYPT_FAILED' });
  });

  it('signs a manifest so that a changed byte or another key does not verify', async () => {
    const { mac } = await keys();
    const manifest = Buffer.from('{"format":2}\n');
    const signature = manifestMac(mac, manifest);
    expect(macMatches(mac, manifest, `${signature}\n`)).toBe(true);
    expect(macMatches(mac, Buffer.from('{"format":3}\n'), signature)).toBe(false);
    expect(macMatches((await keys('another passphrase, long enough')).mac, manifest, signature)).toBe(false);
    expect(macMatches(mac, manifest, 'not hex')).toBe(false);
  });

  it('refuses a key that is short', async () => {
    await writeFile(join(dir, 'short'), 'too short\n', { mode: 0o600 });
    await expect(readBundleKey(join(dir, 'short'))).rejects.toMatchObject({ code: 'BUNDLE_KEY_WEAK' });
  });
});
