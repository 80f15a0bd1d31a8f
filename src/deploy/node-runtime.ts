import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { DistctlError, formatCommand } from '../errors/index.js';
import { lastLines, type ContainerOps } from '../incus/container-ops.js';
import { CONTAINER_NODE_PATH } from './artifacts.js';
import type { BuildCache } from './bundle.js';

/** The oldest Node major the services support (express 5, the mongodb driver 7). */
export const MIN_NODE_MAJOR = 20;

/** The Node runtime distctl copies into app containers: the one running distctl. */
export interface HostNode {
  readonly path: string;
  /** `v20.20.2` */
  readonly version: string;
  /** sha256 of the binary, hex. */
  readonly sha256: string;
}

/** The major version in `v20.20.2`, or null when the text is not a Node version. */
export function nodeMajor(version: string): number | null {
  const match = /^v(\d+)\.\d+\.\d+/.exec(version.trim());
  return match ? Number(match[1]) : null;
}

const digests = new Map<string, Promise<string>>();

/**
 * sha256 of a file, streamed (the Node binary is ~100 MB); computed once per
 * path, size and mtime — per process, and across runs when `cache` keeps
 * `file-digests.json` (hashing Node costs a no-op `up` a fifth of a second).
 */
function fileDigest(path: string, cache?: BuildCache): Promise<string> {
  return stat(path).then(async (info) => {
    const key = `${path}:${info.size}:${info.mtimeMs}`;
    const cacheFile = cache === undefined ? undefined : join(cache.dir, 'file-digests.json');
    const recorded = cacheFile === undefined ? {} : await readDigests(cacheFile);
    const known = recorded[key];
    if (known !== undefined && /^[0-9a-f]{64}$/.test(known)) return known;
    let digest = digests.get(key);
    if (digest === undefined) {
      digest = new Promise<string>((resolve, reject) => {
        const hash = createHash('sha256');
        createReadStream(path)
          .on('data', (chunk) => hash.update(chunk))
          .on('error', reject)
          .on('end', () => resolve(hash.digest('hex')));
      });
      digests.set(key, digest);
    }
    const computed = await digest;
    if (cacheFile !== undefined && cache?.readOnly !== true)
      await writeDigests(cacheFile, { ...recorded, [key]: computed });
    return computed;
  });
}

/** The digest cache: `path:size:mtime` → sha256; empty when missing or unreadable. */
async function readDigests(file: string): Promise<Record<string, string>> {
  try {
    return z.record(z.string(), z.string()).parse(JSON.parse(await readFile(file, 'utf8')));
  } catch {
    return {};
  }
}

/** Writes the digest cache; one that cannot be written only costs the next run the hashing. */
async function writeDigests(file: string, digestsByKey: Record<string, string>): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(digestsByKey)}\n`, { mode: 0o600 });
    await rename(temporary, file);
  } catch {
    // best effort
  }
}

/**
 * The host's Node (`process.execPath`), checked to be new enough for the
 * services. It is what gets copied into the containers, so distctl's own
 * runtime requirement and the services' are the same.
 */
export async function hostNode(
  path: string = process.execPath,
  version: string = process.version,
  cache?: BuildCache,
): Promise<HostNode> {
  const major = nodeMajor(version);
  if (major === null || major < MIN_NODE_MAJOR) {
    throw new DistctlError(
      'HOST_NODE_TOO_OLD',
      `distctl runs on Node ${version} (${path}); the services it deploys need Node ≥ ${MIN_NODE_MAJOR}, and distctl copies its own Node into the app containers`,
      {
        hint: `Run distctl with Node ${MIN_NODE_MAJOR} or newer (an official build from nodejs.org, which needs only glibc).`,
      },
    );
  }
  return { path, version, sha256: await fileDigest(path, cache) };
}

/** What a container reported about its Node runtime (see probe.ts). */
export interface ContainerNode {
  /** sha256 of /usr/local/bin/node, or null when it is missing. */
  readonly sha256: string | null;
}

/**
 * Makes the container's /usr/local/bin/node the host's binary. Copies only
 * when the digests differ; the new copy lands under a temporary name, must
 * run and report a version ≥ 20 there, and only then replaces the old one
 * (renamed over it, so running services keep their open binary). Returns
 * whether it copied.
 */
export async function ensureContainerNode(
  ops: ContainerOps,
  container: string,
  current: ContainerNode,
  host: HostNode,
): Promise<boolean> {
  if (current.sha256 === host.sha256) return false;
  const staged = `${CONTAINER_NODE_PATH}.distctl-new`;
  await ops.pushFile(container, host.path, staged, { mode: 0o755 });
  const argv = [
    'sh',
    '-c',
    'if out=$("$1" -v 2>&1); then printf "%s\\n" "$out"; mv -f "$1" "$2"; else st=$?; printf "%s\\n" "$out"; rm -f "$1"; exit $st; fi',
    'sh',
    staged,
    CONTAINER_NODE_PATH,
  ];
  const result = await ops.exec(container, argv, { timeoutMs: 60_000 });
  const version = result.stdout.trim().split('\n').pop() ?? '';
  const major = nodeMajor(version);
  if (result.exitCode !== 0 || major === null || major < MIN_NODE_MAJOR) {
    throw new DistctlError(
      'CONTAINER_NODE_UNUSABLE',
      `the Node runtime copied from the host (${host.path}, ${host.version}) does not run in container ${container}${result.exitCode === 0 ? `: it reports ${version || 'nothing'}` : ` (exit ${result.exitCode})`}`,
      {
        details: [`ran: ${formatCommand([staged, '-v'])}`, ...lastLines(result, 8)],
        hint: "distctl copies its own Node binary into app containers, so the container must share the host's CPU architecture and have a glibc at least as new as the one Node was built for; distro Node packages that link a shared libnode do not work. Use an official Node build (nodejs.org) on the host, or an image closer to the host.",
      },
    );
  }
  return true;
}

/** The file in a deployment's state directory that records the Node runtime last pushed into its containers. */
export const NODE_RUNTIME_RECORD = 'node-runtime.json';

/** What the deployment records about the Node runtime its containers run: where it came from, which build exactly. */
export interface NodeRuntimeRecord {
  readonly version: string;
  readonly sha256: string;
  /** The host binary it was copied from. */
  readonly path: string;
  readonly recordedAt: string;
}

/**
 * Records the Node runtime deployed into the containers (version and sha256),
 * so `status --json` can say exactly which binary the services run on: it is
 * the host's own, not a pinned download, and may change with the host.
 */
export async function recordNodeRuntime(stateDir: string, host: HostNode, now: Date = new Date()): Promise<void> {
  const record: NodeRuntimeRecord = {
    version: host.version,
    sha256: host.sha256,
    path: host.path,
    recordedAt: now.toISOString(),
  };
  const path = join(stateDir, NODE_RUNTIME_RECORD);
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, path);
}

/** The record file's shape; anything else reads as "no record". */
const NodeRuntimeFile = z.object({ version: z.string(), sha256: z.string(), path: z.string(), recordedAt: z.string() });

/** The recorded Node runtime of a deployment, or null before the first deploy. */
export async function readNodeRuntime(stateDir: string): Promise<NodeRuntimeRecord | null> {
  const text = await readFile(join(stateDir, NODE_RUNTIME_RECORD), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    const parsed = NodeRuntimeFile.safeParse(JSON.parse(text)).data;
    return parsed
      ? { version: parsed.version, sha256: parsed.sha256, path: parsed.path, recordedAt: parsed.recordedAt }
      : null;
  } catch {
    return null;
  }
}
