import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { chmod, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import { DistctlError } from '../errors/index.js';

/** Who holds a deployment's lock: written into the lock file for messages only, never used to decide. */
interface LockOwner {
  readonly pid: number;
  readonly command: string;
  readonly since: string;
}

/** flock(1)'s exit code when the lock is held by someone else (chosen, not a default). */
const BUSY_EXIT = 75;

/**
 * Takes the deployment's lock for a command that changes it (up, deploy,
 * expose, down, import, export), so two runs never change one deployment at
 * once. Returns the release function.
 *
 * The lock is the kernel's: an flock(2) on the deployment's lock file (see
 * lockFile), held by an `flock` child process (util-linux; Node has no flock
 * binding) whose stdin is a pipe from this process. The kernel gives the lock
 * to exactly one holder, and releases it when the holder is gone — on
 * release, and also when distctl dies (the pipe closes, the child exits) — so
 * there is no stale lock to detect and no file to delete.
 */
export async function lockDeployment(stateDir: string, command: string): Promise<() => Promise<void>> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = lockFile(stateDir);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Created here with 0600 so flock(1) never creates it with its default mode.
  await (await open(path, 'a', 0o600)).close();
  await chmod(path, 0o600);
  // detached: a Ctrl-C to distctl's process group must not release the lock before distctl has stopped.
  const child = spawn(
    'flock',
    [
      '--no-fork',
      '--exclusive',
      '--nonblock',
      '--conflict-exit-code',
      String(BUSY_EXIT),
      path,
      'sh',
      '-c',
      'echo locked && exec cat',
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    },
  );
  const outcome = await holdOutcome(child);
  if (outcome === 'held') {
    const owner: LockOwner = { pid: process.pid, command, since: new Date().toISOString() };
    await writeFile(path, JSON.stringify(owner), { mode: 0o600 });
    // The child stays referenced: release() awaits its exit, and an unreferenced child would let Node end first.
    return () => release(child);
  }
  if (outcome.kind === 'busy') {
    const holder = await readOwner(path);
    const who = holder ? ` (pid ${holder.pid}, \`${holder.command}\`, since ${holder.since})` : '';
    throw new DistctlError('DEPLOYMENT_BUSY', `another distctl${who} is changing this deployment`, {
      hint: 'Wait for it to finish, then run the command again. The lock is released as soon as that process ends.',
    });
  }
  throw new DistctlError('DEPLOYMENT_LOCK_FAILED', `could not take the deployment lock ${path}: ${outcome.reason}`, {
    hint:
      'distctl locks with flock(1) from util-linux; install it (Debian: util-linux) and check that the state ' +
      'directory is writable.',
  });
}

/**
 * The lock file of the deployment whose state is in `stateDir`: `<state root>/locks/<project>.lock`, beside the
 * state directory and not inside it. `down` deletes the state directory while it holds the lock; a lock file
 * inside would go with it, and the next command would lock a new file of the same name while the old one is
 * still held — two holders. distctl never removes a lock file, so everyone locks the same inode.
 */
export function lockFile(stateDir: string): string {
  return join(dirname(stateDir), 'locks', `${basename(stateDir)}.lock`);
}

type FlockChild = ChildProcessByStdio<Writable, Readable, Readable>;
type Outcome = 'held' | { readonly kind: 'busy' } | { readonly kind: 'failed'; readonly reason: string };

/** Waits until the child reports the lock held, or exits without it. */
function holdOutcome(child: FlockChild): Promise<Outcome> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.startsWith('locked\n')) resolve('held');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (error) => resolve({ kind: 'failed', reason: error.message }));
    child.on('exit', (code, signal) => {
      if (code === BUSY_EXIT) resolve({ kind: 'busy' });
      else resolve({ kind: 'failed', reason: stderr.trim() || `flock exited with ${signal ?? `code ${code}`}` });
    });
  });
}

async function release(child: FlockChild): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // End of input ends `cat`, which ends flock(1): the kernel drops the lock with its last descriptor.
  child.stdin.end();
  await exited;
}

/** The lock file's content as written by this module; anything else reads as "unknown owner". */
const LockOwnerRecord = z.object({ pid: z.number(), command: z.string(), since: z.string() });

async function readOwner(path: string): Promise<LockOwner | null> {
  try {
    return LockOwnerRecord.safeParse(JSON.parse(await readFile(path, 'utf8'))).data ?? null;
  } catch {
    return null;
  }
}
