import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockFile } from '../../../src/state/lock.js';

/** A worker process running the current src/state/lock.ts (bundled from source, not dist/). */
interface Worker {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: Interface;
  ask(command: string): Promise<string>;
}

const WORKERS = 4;
const TRIALS = 100;
let dir: string;
let workers: Worker[] = [];

function startWorker(script: string): Worker {
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  return {
    child,
    lines,
    ask: (command) =>
      new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(`${command}\n`);
      }),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distctl-lock-race-'));
  const script = join(dir, 'worker.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, 'lock-worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: script,
    logLevel: 'silent',
  });
  workers = Array.from({ length: WORKERS }, () => startWorker(script));
  await build({
    entryPoints: [join(import.meta.dirname, 'lock-once.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: join(dir, 'once.mjs'),
    logLevel: 'silent',
  });
});

afterAll(async () => {
  for (const worker of workers) worker.child.stdin.end();
  await rm(dir, { recursive: true, force: true });
});

describe('the deployment lock under racing processes', () => {
  it(`admits exactly one of ${WORKERS} processes in each of ${TRIALS} trials, over a stale lock left by a dead process`, async () => {
    const holdersPerTrial: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const stateDir = join(dir, `trial-${trial}`);
      await mkdir(stateDir, { mode: 0o700 });
      // What a killed distctl leaves behind: a lock file naming a process that no longer exists.
      await mkdir(dirname(lockFile(stateDir)), { recursive: true });
      await writeFile(lockFile(stateDir), JSON.stringify({ pid: 2 ** 22 + trial, command: 'up', since: 'earlier' }), {
        mode: 0o600,
      });
      const answers = await Promise.all(workers.map((worker) => worker.ask(`try ${stateDir}`)));
      holdersPerTrial.push(answers.filter((answer) => answer === 'held').length);
      expect(
        answers.filter((answer) => answer !== 'held').every((answer) => answer === 'busy DEPLOYMENT_BUSY'),
        answers.join(', '),
      ).toBe(true);
      // Everyone who got it releases only after all have tried, so a second holder could not hide behind an early release.
      await Promise.all(workers.filter((_, index) => answers[index] === 'held').map((worker) => worker.ask('release')));
    }
    expect(holdersPerTrial).toEqual(Array.from({ length: TRIALS }, () => 1));
  }, 60_000);

  it(`stays with its holder while that holder deletes the state directory (as \`down\` does): ${WORKERS - 1} others racing for it get none`, async () => {
    const [holder, ...others] = workers;
    for (let trial = 0; trial < 20; trial++) {
      const stateDir = join(dir, `down-${trial}`);
      expect(await holder!.ask(`try ${stateDir}`)).toBe('held');
      expect(await holder!.ask(`remove ${stateDir}`)).toBe('removed');
      const answers = await Promise.all(others.map((worker) => worker.ask(`try ${stateDir}`)));
      expect(answers, `trial ${trial}`).toEqual(others.map(() => 'busy DEPLOYMENT_BUSY'));
      expect(await holder!.ask('release')).toBe('released');
    }
  }, 60_000);

  it('lets a process that took and released it end normally (nothing left pending)', async () => {
    const stateDir = join(dir, 'once');
    const run = spawn(process.execPath, [join(dir, 'once.mjs'), stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    run.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => run.once('exit', (exitCode) => resolve(exitCode)));
    expect({ code, output }).toEqual({ code: 0, output: 'released\n' });
  }, 20_000);
});
