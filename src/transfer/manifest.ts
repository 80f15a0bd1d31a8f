import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { DistctlError } from '../errors/index.js';

/**
 * A deployment bundle, as `distctl export` writes it and `distctl import`
 * reads it: one directory holding `manifest.json`, the topology, the
 * deployment's secrets and one Incus backup tarball per container.
 */
export const MANIFEST_FILE = 'manifest.json';
export const BUNDLE_TOPOLOGY = 'topology.yaml';
export const BUNDLE_SECRETS = 'secrets';

const manifestSchema = z.strictObject({
  format: z.literal(1),
  project: z.string().min(1),
  exportedAt: z.string(),
  distctlVersion: z.string(),
  containers: z.array(
    z.strictObject({
      name: z.string().min(1),
      file: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a plain file name inside the bundle'),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      bytes: z.number().int().nonnegative(),
    }),
  ),
});

/** What a bundle holds. */
export type Manifest = z.infer<typeof manifestSchema>;

/** Parses a manifest, or explains why the directory is not a distctl bundle. */
export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new DistctlError('BUNDLE_INVALID', `${where} is not valid JSON`, { hint: 'Point distctl import at a directory written by `distctl export`.' });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new DistctlError('BUNDLE_INVALID', `${where} is not a distctl export manifest`, {
      details: parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`),
      hint: 'Point distctl import at a directory written by `distctl export` (format 1).',
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
