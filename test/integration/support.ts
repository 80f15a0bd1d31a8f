// Shared plumbing of the integration tier: talking to the live Incus daemon,
// running the built CLI as a user would, and removing what a test created.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ExecaRunner } from '../../src/exec/runner.js';

const runner = new ExecaRunner();
export const repoRoot = join(import.meta.dirname, '../..');
/** The base image the tier launches; test/host/ensure-image.sh builds it. */
export const testImage = process.env.DISTCTL_TEST_IMAGE ?? 'debian12-distctl';

/**
 * The integration files run in parallel (vitest.config.ts), so each names its projects, networks and
 * instances' projects with one of these prefixes, unique to the file. A test that compares the whole
 * host before and after leaves out the objects of the other files with `ofAnotherTestFile`, and the
 * host interfaces Incus creates for their containers with `isContainerInterface`.
 */
const TEST_OBJECT_PREFIX = /^(distctl-it|distctl-model-|dit|dmodel)/;

/** Whether a project or network name belongs to an integration test file other than the one that owns `ours`. */
export function ofAnotherTestFile(name: string, ours: (name: string) => boolean): boolean {
  return TEST_OBJECT_PREFIX.test(name) && !ours(name);
}

/** The host end of a container's NIC (`incus network list` shows it, unmanaged, while the container runs). */
export function isContainerInterface(network: { name: string; managed: boolean }): boolean {
  return !network.managed && /^veth[0-9a-f]+$/.test(network.name);
}

/** Runs incus; throws with its stderr on failure. */
export async function incus(...args: string[]): Promise<string> {
  const result = await runner.run({ bin: 'incus', args, timeoutMs: 120_000 });
  if (result.exitCode !== 0)
    throw new Error(`incus ${args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  return result.stdout;
}

/** Runs incus and returns the parsed JSON it prints. */
export async function incusJson<T>(...args: string[]): Promise<T> {
  return JSON.parse(await incus(...args, '--format', 'json')) as T;
}

/** Why the tier cannot run here, or undefined when a daemon answers. Prints the one-line skip notice. */
export async function integrationSkipReason(tier: string): Promise<string | undefined> {
  let reason: string | undefined;
  try {
    const result = await runner.run({ bin: 'incus', args: ['query', '/1.0'], timeoutMs: 15_000 });
    if (result.exitCode !== 0)
      reason = `the Incus daemon does not answer (${result.stderr.trim() || `exit ${result.exitCode}`})`;
  } catch {
    reason = 'incus is not installed';
  }
  if (reason)
    console.log(
      `integration tier skipped (${tier}): ${reason} — run bin/ensure-incus.sh as root, or \`npm test\` which does`,
    );
  return reason;
}

/**
 * Removes a test's project, its instances and its bridge; "not found" is fine.
 * Returns what could not be removed, so afterAll can fail loudly instead of leaking.
 */
export async function removeTestResources(project: string, networks: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  const attempt = async (args: string[]) => {
    const result = await runner.run({ bin: 'incus', args, timeoutMs: 120_000 });
    if (result.exitCode !== 0 && !/not found/i.test(result.stderr))
      problems.push(`incus ${args.join(' ')}: ${result.stderr.trim()}`);
  };
  const listed = await runner.run({
    bin: 'incus',
    args: ['list', '--project', project, '--format', 'json'],
    timeoutMs: 60_000,
  });
  if (listed.exitCode === 0) {
    for (const instance of JSON.parse(listed.stdout) as { name: string }[])
      await attempt(['delete', '--force', '--project', project, instance.name]);
  }
  await attempt(['project', 'delete', project]);
  for (const network of networks) await attempt(['network', 'delete', network]);
  return problems;
}

/** What a CLI run left: exit code, output, and the last JSON document it printed (with --json). */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly json: Record<string, unknown> | null;
  /** Progress events (with --json, on stderr). */
  readonly events: Record<string, unknown>[];
}

/** Runs `bin/distctl` as a separate process, stdin closed, colour off. */
export function distctl(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/distctl'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1', CI: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      // With --json, stdout holds the one result document and stderr one progress event per line.
      const documents = (text: string) =>
        text
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, stdout, stderr, json: documents(stdout).at(-1) ?? null, events: documents(stderr) });
    });
  });
}
