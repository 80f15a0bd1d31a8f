import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { DistctlError } from '../errors/index.js';

/**
 * A deployment bundle, as `distctl export` writes it and `distctl import`
 * reads it: one directory holding `manifest.json`, the topology, the
 * deployment's secrets and one Incus backup tarball per container. The
 * manifest lists every other file with its size and sha256, so authenticating
 * the manifest (see bundle-key.ts) authenticates the whole bundle.
 */
export const MANIFEST_FILE = 'manifest.json';
/** HMAC-SHA256 of manifest.json under the operator's key, hex; present when exported with --key. */
export const MANIFEST_MAC_FILE = 'manifest.json.hmac';
export const BUNDLE_TOPOLOGY = 'topology.yaml';
export const BUNDLE_SECRETS = 'secrets';
/** Suffix of a file encrypted with the operator's key (format in bundle-key.ts). */
export const ENCRYPTED_SUFFIX = '.enc';
/** The manifest format this distctl writes and reads. */
export const MANIFEST_FORMAT = 2;

const plainName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** One file of the bundle, as stored on disk (ciphertext when encrypted). */
const fileEntry = z.strictObject({
  file: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().nonnegative(),
});

const manifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT, {
    error: `must be ${MANIFEST_FORMAT} (export the deployment again with this distctl)`,
  }),
  project: z.string().min(1),
  exportedAt: z.string(),
  distctlVersion: z.string(),
  /**
   * Set when exported with a key: the manifest is signed (manifest.json.hmac); the keys come from scrypt with this
   * salt (base64).
   */
  key: z.strictObject({ kdf: z.literal('scrypt'), salt: z.string().min(16) }).nullable(),
  /** The cipher of the files when encrypted with the key, else null. */
  encryption: z.literal('aes-256-gcm').nullable(),
  topology: fileEntry.extend({ file: z.string().regex(/^topology\.yaml(\.enc)?$/, 'must be topology.yaml') }),
  secrets: z.array(
    fileEntry.extend({
      file: z
        .string()
        .regex(/^secrets\/[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be a plain file name inside secrets/'),
    }),
  ),
  containers: z.array(
    fileEntry.extend({
      name: z.string().min(1),
      file: z.string().regex(plainName, 'must be a plain file name inside the bundle'),
    }),
  ),
});

/** What a bundle holds. */
export type Manifest = z.infer<typeof manifestSchema>;
/** One file entry of a manifest. */
export type BundleFile = z.infer<typeof fileEntry>;

/** Every file a manifest lists, topology first. */
export function manifestFiles(manifest: Manifest): BundleFile[] {
  return [manifest.topology, ...manifest.secrets, ...manifest.containers];
}

/** Parses a manifest, or explains why the directory is not a distctl bundle. */
export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new DistctlError('BUNDLE_INVALID', `${where} is not valid JSON`, {
      hint: 'Point distctl import at a directory written by `distctl export`.',
    });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new DistctlError('BUNDLE_INVALID', `${where} is not a distctl export manifest`, {
      details: parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
      hint: `Point distctl import at a directory written by \`distctl export\` (format ${MANIFEST_FORMAT}).`,
    });
  }
  const files = manifestFiles(parsed.data).map((entry) => entry.file);
  const duplicate = files.find((file, index) => files.indexOf(file) !== index);
  if (duplicate !== undefined)
    throw new DistctlError('BUNDLE_INVALID', `${where} lists ${duplicate} twice`, {
      hint: 'Export the deployment again.',
    });
  if (parsed.data.encryption && !parsed.data.key)
    throw new DistctlError('BUNDLE_INVALID', `${where} says the files are encrypted but names no key`, {
      hint: 'Export the deployment again.',
    });
  const suffixed = files.filter((file) => file.endsWith(ENCRYPTED_SUFFIX)).length;
  if (suffixed !== (parsed.data.encryption ? files.length : 0)) {
    throw new DistctlError('BUNDLE_INVALID', `${where} mixes encrypted and plain files`, {
      hint: 'Export the deployment again.',
    });
  }
  return parsed.data;
}

/** sha256 of a file, streamed (backups are hundreds of megabytes). */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
