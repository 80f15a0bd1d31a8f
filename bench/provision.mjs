#!/usr/bin/env node
// Measures the provisioning engine on the live Incus daemon: wall time and
// incus calls of a cold `up`, a no-op `up`, a `plan` and a `status` of the
// reference topology (five containers, reference IPs). It runs on a copy of
// topology.yaml with the image swapped for a local one (no image server here)
// and its own project name; with --containers-only the MongoDB and service
// sections are dropped so only Incus work is timed. It removes everything
// with `down` at the end.
//
//   node bench/provision.mjs [--containers-only] [--image ALIAS] [--keep]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const image = option('--image', process.env.DISTCTL_TEST_IMAGE ?? 'debian12-distctl');
const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'distctl-bench-'));

const doc = parseDocument(readFileSync(join(root, 'topology.yaml'), 'utf8'));
doc.set('project', 'distctl-bench');
doc.set('image', image);
doc.setIn(['mongodb', 'source'], 'image');
if (flag('--containers-only')) {
  for (const key of ['mongodb', 'sharding', 'services']) doc.delete(key);
}
const file = join(dir, 'topology.yaml');
writeFileSync(file, doc.toString());

function distctl(...commandArgs) {
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, [join(root, 'bin/distctl'), ...commandArgs, '-f', file, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, DISTCTL_STATE_DIR: join(dir, 'state'), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const last = run.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .pop();
  const json = last ? JSON.parse(last) : {};
  return { seconds, code: run.status, json, stderr: run.stderr };
}

const rows = [];
const record = (label, result) => {
  rows.push({
    label,
    seconds: result.seconds,
    calls: result.json.incusCalls ?? '?',
    code: result.code,
    note: result.json.failedStages?.length ? `failed stages: ${result.json.failedStages.join(', ')}` : '',
  });
};

try {
  const pre = distctl('down', '--yes');
  if (pre.code !== 0) throw new Error(`could not clear a previous bench deployment: ${pre.stderr}`);
  record('plan (empty)', distctl('plan'));
  record('up (cold)', distctl('up'));
  record('up (no-op)', distctl('up'));
  record('plan (converged)', distctl('plan'));
  record('status', distctl('status'));
} finally {
  if (!flag('--keep')) {
    const down = distctl('down', '--yes');
    record('down', down);
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(
  `distctl provisioning bench — reference topology, image ${image}${flag('--containers-only') ? ', containers only' : ''}`,
);
console.log('step               wall s   incus calls  exit  note');
for (const row of rows) {
  console.log(
    `${row.label.padEnd(18)} ${row.seconds.toFixed(2).padStart(6)}   ${String(row.calls).padStart(11)}  ${String(row.code).padStart(4)}  ${row.note}`,
  );
}
