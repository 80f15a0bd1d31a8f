import { z } from 'zod';
import { DistctlError } from '../errors/index.js';
import type { IncusClient } from '../incus/client.js';
import { classifyIncusFailure } from '../incus/errors.js';

/**
 * The project images are built into. Projects created with `features.images=false`
 * share the default project's images and aliases, so a distctl project launches
 * from the same alias without copying anything.
 */
export const IMAGE_PROJECT = 'default';

/** What Incus says about an image alias (the subset distctl reads). */
const AliasRecord = z.object({ target: z.string() });

/** What Incus says about one image (the subset distctl reads). */
const ImageQuery = z.object({
  fingerprint: z.string().optional(),
  size: z.number().optional(),
  aliases: z.array(z.object({ name: z.string().optional() })).nullish(),
});

/** An image as distctl reports it. */
export interface ImageRecord {
  readonly fingerprint: string;
  readonly sizeBytes: number;
  readonly aliases: readonly string[];
}

const IMPORT_TIMEOUT_MS = 15 * 60_000;
const QUERY_TIMEOUT_MS = 60_000;

async function runIncus(
  client: IncusClient,
  args: readonly string[],
  options: { timeoutMs?: number } = {},
): Promise<string> {
  return (await client.run({ args, timeoutMs: options.timeoutMs ?? QUERY_TIMEOUT_MS })).stdout;
}

function apiPath(path: string, project: string): string {
  return `${path}?project=${encodeURIComponent(project)}`;
}

/** The fingerprint an image alias points at, or `undefined` when the alias does not exist. */
export async function imageAliasTarget(
  client: IncusClient,
  alias: string,
  project: string = IMAGE_PROJECT,
): Promise<string | undefined> {
  const args = ['query', apiPath(`/1.0/images/aliases/${encodeURIComponent(alias)}`, project)];
  const result = await client.attempt({ args, timeoutMs: QUERY_TIMEOUT_MS });
  if (result.exitCode !== 0) {
    if (/not found/i.test(result.stderr)) return undefined;
    throw classifyIncusFailure(['incus', ...args], result);
  }
  const target = AliasRecord.safeParse(JSON.parse(result.stdout)).data?.target;
  if (target === undefined)
    throw new DistctlError(
      'INCUS_UNEXPECTED_OUTPUT',
      `Incus returned image alias \`${alias}\` without a target fingerprint.`,
    );
  return target;
}

/** Whether an image alias exists in `project` (default: the project distctl builds images into). */
export async function imageExists(
  client: IncusClient,
  alias: string,
  project: string = IMAGE_PROJECT,
): Promise<boolean> {
  return (await imageAliasTarget(client, alias, project)) !== undefined;
}

/** Reads an image's size and aliases. */
export async function readImage(
  client: IncusClient,
  fingerprint: string,
  project: string = IMAGE_PROJECT,
): Promise<ImageRecord> {
  const stdout = await runIncus(client, ['query', apiPath(`/1.0/images/${fingerprint}`, project)]);
  const parsed = ImageQuery.safeParse(JSON.parse(stdout));
  if (!parsed.success)
    throw new DistctlError(
      'INCUS_UNEXPECTED_OUTPUT',
      `Incus described image ${fingerprint} in an unexpected shape: ${z.prettifyError(parsed.error)}`,
    );
  const image = parsed.data;
  return {
    fingerprint: image.fingerprint ?? fingerprint,
    sizeBytes: image.size ?? 0,
    aliases: (image.aliases ?? []).map((a) => a.name ?? '').filter((n) => n !== ''),
  };
}

/** Imports a unified image tarball without an alias and returns its fingerprint. */
export async function importImageTarball(
  client: IncusClient,
  tarball: string,
  project: string = IMAGE_PROJECT,
): Promise<string> {
  const stdout = await runIncus(client, ['image', 'import', '--project', project, '--', tarball], {
    timeoutMs: IMPORT_TIMEOUT_MS,
  });
  const fingerprint = /fingerprint:\s*([0-9a-f]{64})/i.exec(stdout)?.[1];
  if (fingerprint === undefined) {
    throw new DistctlError(
      'INCUS_UNEXPECTED_OUTPUT',
      `\`incus image import ${tarball}\` did not report a fingerprint.`,
      {
        details: stdout.trim().split('\n'),
      },
    );
  }
  return fingerprint;
}

/**
 * Points `alias` at `fingerprint`: creates it, or when it already names another image,
 * retargets it with one API call so the alias is never missing in between.
 */
export async function pointAlias(
  client: IncusClient,
  alias: string,
  fingerprint: string,
  previous: string | undefined,
  project: string = IMAGE_PROJECT,
): Promise<void> {
  if (previous === undefined) {
    await runIncus(client, ['image', 'alias', 'create', '--project', project, '--', alias, fingerprint]);
    return;
  }
  await runIncus(client, [
    'query',
    '-X',
    'PUT',
    apiPath(`/1.0/images/aliases/${encodeURIComponent(alias)}`, project),
    '--data',
    JSON.stringify({ target: fingerprint, description: '' }),
  ]);
}

/** Deletes an image unless some alias still names it; returns whether it was deleted. */
export async function deleteImageIfUnaliased(
  client: IncusClient,
  fingerprint: string,
  project: string = IMAGE_PROJECT,
): Promise<boolean> {
  const image = await readImage(client, fingerprint, project);
  if (image.aliases.length > 0) return false;
  await runIncus(client, ['image', 'delete', '--project', project, '--', fingerprint]);
  return true;
}
