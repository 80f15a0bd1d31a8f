import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { DistctlError } from '../errors/index.js';

/**
 * The operator's bundle key: a passphrase file (any bytes, at least 16, the
 * trailing newline ignored) that `export --key` signs — and with `--encrypt`
 * encrypts — a bundle with, and `import --key` checks it with.
 *
 * Keys are derived with scrypt (N=2^15, r=8, p=1, 64 bytes) from the
 * passphrase and a random salt kept in the manifest: the first 32 bytes are
 * the HMAC-SHA256 key over manifest.json, the last 32 the AES-256-GCM key of
 * the files. An encrypted
 * file is `DCTLENC1` (8 bytes), a 12-byte random nonce, the ciphertext and
 * the 16-byte GCM tag; the file's bundle path is the additional authenticated
 * data, so files cannot be swapped between entries.
 */
export interface BundleKey {
  readonly passphrase: Buffer;
}

const MAGIC = Buffer.from('DCTLENC1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** Reads the operator's key file; refuses one others can read, or one too short to be a key. */
export async function readBundleKey(path: string): Promise<BundleKey> {
  const info = await stat(path).catch(() => null);
  if (info === null || !info.isFile()) {
    throw new DistctlError('BUNDLE_KEY_UNREADABLE', `key file ${path} does not exist or is not a regular file`, {
      hint: 'Create one with `openssl rand -base64 32 > KEYFILE && chmod 600 KEYFILE`, and keep a copy off this host.',
    });
  }
  if ((info.mode & 0o077) !== 0) {
    throw new DistctlError(
      'BUNDLE_KEY_LOOSE',
      `key file ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)})`,
      { hint: `Run \`chmod 600 ${path}\`.` },
    );
  }
  const passphrase = (await readFile(path)).subarray(0);
  const trimmed = passphrase.subarray(0, passphrase.at(-1) === 0x0a ? -1 : undefined);
  if (trimmed.length < 16) {
    throw new DistctlError(
      'BUNDLE_KEY_WEAK',
      `key file ${path} holds ${trimmed.length} bytes; at least 16 are needed`,
      { hint: 'Create one with `openssl rand -base64 32 > KEYFILE && chmod 600 KEYFILE`.' },
    );
  }
  return { passphrase: Buffer.from(trimmed) };
}

/** A fresh salt for deriving a key, base64. */
export function newSalt(): string {
  return randomBytes(16).toString('base64');
}

/** The two keys of a bundle, derived in one scrypt run (it is deliberately slow). */
export interface DerivedKeys {
  /** HMAC-SHA256 key of manifest.json. */
  readonly mac: Buffer;
  /** AES-256-GCM key of the files. */
  readonly encryption: Buffer;
}

/** Derives the bundle's HMAC and encryption keys from the passphrase and `salt` (base64). */
export function deriveKeys(key: BundleKey, salt: string): Promise<DerivedKeys> {
  return new Promise((resolve, reject) => {
    scrypt(key.passphrase, Buffer.from(salt, 'base64'), 64, SCRYPT, (error, derived) =>
      error ? reject(error) : resolve({ mac: derived.subarray(0, 32), encryption: derived.subarray(32) }),
    );
  });
}

/** HMAC-SHA256 of the manifest bytes, hex. */
export function manifestMac(macKey: Buffer, manifest: Buffer): string {
  return createHmac('sha256', macKey).update(manifest).digest('hex');
}

/** Whether `mac` (hex, as read from the bundle) is the manifest's HMAC; constant time. */
export function macMatches(macKey: Buffer, manifest: Buffer, mac: string): boolean {
  const expected = Buffer.from(manifestMac(macKey, manifest), 'hex');
  const given = Buffer.from(mac.trim(), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Encrypts `from` into a new file `to` (mode 0600); `name` is the file's path in the bundle. */
export async function encryptFile(encryptionKey: Buffer, from: string, to: string, name: string): Promise<void> {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', encryptionKey, nonce);
  cipher.setAAD(Buffer.from(name));
  const out = createWriteStream(to, { flags: 'wx', mode: 0o600 });
  out.write(Buffer.concat([MAGIC, nonce]));
  await pipeline(createReadStream(from), cipher, out, { end: false });
  await new Promise<void>((resolve, reject) => out.end(cipher.getAuthTag(), () => resolve()).once('error', reject));
}

/**
 * Decrypts `from` into a new file `to` (mode 0600). Throws BUNDLE_DECRYPT_FAILED
 * when the key is wrong or a byte was changed (the GCM tag does not match);
 * the caller removes `to` then.
 */
export async function decryptFile(encryptionKey: Buffer, from: string, to: string, name: string): Promise<void> {
  const size = (await stat(from)).size;
  const failed = (why: string): DistctlError =>
    new DistctlError('BUNDLE_DECRYPT_FAILED', `${name} could not be decrypted: ${why}`, {
      hint:
        'Pass the key file the bundle was exported with (--key); a changed byte also ends here. ' +
        'Nothing was changed.',
    });
  if (size < MAGIC.length + NONCE_BYTES + TAG_BYTES) throw failed('too short to be an encrypted file');
  const head = Buffer.alloc(MAGIC.length + NONCE_BYTES);
  const tag = Buffer.alloc(TAG_BYTES);
  const handle = await open(from, 'r');
  try {
    await handle.read(head, 0, head.length, 0);
    await handle.read(tag, 0, TAG_BYTES, size - TAG_BYTES);
  } finally {
    await handle.close();
  }
  if (!head.subarray(0, MAGIC.length).equals(MAGIC)) throw failed('not a distctl encrypted file');
  const decipher = createDecipheriv('aes-256-gcm', encryptionKey, head.subarray(MAGIC.length));
  decipher.setAAD(Buffer.from(name));
  decipher.setAuthTag(tag);
  try {
    await pipeline(
      createReadStream(from, { start: head.length, end: size - TAG_BYTES - 1 }),
      decipher,
      createWriteStream(to, { flags: 'wx', mode: 0o600 }),
    );
  } catch (error) {
    if (error instanceof Error && /auth/i.test(error.message)) throw failed('wrong key, or the file was changed');
    throw error;
  }
}
