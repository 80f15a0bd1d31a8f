#!/usr/bin/env node
// Measures distctl's provisioning against the hand procedure it replaces, in
// one run on the live Incus daemon, and prints the figures side by side:
//
//   1. the hand procedure (sequential, as a person types it): project, bridge,
//      then per container `init`, set eth0's ipv4.address, `start`, then poll
//      `incus list` until every container has its address;
//   2. distctl on the same five containers: cold `up` (containers only), the
//      ratio to (1), no-op `up`, `status`, `plan`;
//   3. the full reference stack (services deployed, MongoDB from the image, so
//      the database stage fails fast where the image has no mongod): cold `up`,
//      no-op `up`, `status`, `plan`, and `incus exec` calls per container
//      (bench/perf-stack.mjs);
//   4. the scale curve: cold `up`, no-op `up` and `status` for 5, 20 and 50
//      containers (containers only), with the incus calls each made.
//
// The floor of (1) is measured too: the same containers created and started
// four at a time with no network at all.
//
// Everything runs in its own project (`distctl-perf`) on its own bridge and
// subnet (`perfbr0`, 10.251.0.0/24; change them with --project, --bridge and
// --prefix when those are taken); everything is removed at the end, also on
// failure. Needs root, Incus and the local image (`--image`, default
// debian12-distctl). Run from a checkout after `npm ci` (it runs bin/distctl);
// on a shared host, under the host's Incus lock so nothing else overlaps it.
//
//   node bench/perf.mjs [--image ALIAS] [--runs N] [--skip-scale] [--skip-stack]
//                       [--project NAME] [--bridge NAME] [--prefix 10.251.0]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { measureStack } from './perf-stack.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const image = option('--image', process.env.DISTCTL_TEST_IMAGE ?? 'debian12-distctl');
const runs = Number(option('--runs', '3'));
const root = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'distctl-perf-'));
const PROJECT = option('--project', 'distctl-perf');
const BRIDGE = option('--bridge', 'perfbr0');
const PREFIX = option('--prefix', '10.251.0');

function incus(...incusArgs) {
  const run = spawnSync('incus', incusArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.status !== 0) throw new Error(`incus ${incusArgs.join(' ')} failed: ${run.stderr.trim()}`);
  return run.stdout;
}

function quietly(...incusArgs) {
  spawnSync('incus', incusArgs, { stdio: 'ignore' });
}

function seconds(started) {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Removes whatever a previous or failed run left: instances, the project, the bridge. */
function clean() {
  const listed = spawnSync('incus', ['list', '--project', PROJECT, '--format', 'json'], { encoding: 'utf8' });
  if (listed.status === 0) {
    const names = JSON.parse(listed.stdout).map((instance) => instance.name);
    if (names.length > 0) quietly('delete', '--force', '--project', PROJECT, ...names);
  }
  quietly('project', 'delete', PROJECT);
  quietly('network', 'delete', BRIDGE);
}

function containerNames(count) {
  return Array.from({ length: count }, (_, index) => `c${index + 1}`);
}

/** The hand procedure, one command after another as typed; the wait polls `incus list` every second, as a person would. */
function handProcedure(count) {
  const started = process.hrtime.bigint();
  incus('project', 'create', PROJECT, '-c', 'features.images=false', '-c', 'features.profiles=false');
  incus('network', 'create', BRIDGE, `ipv4.address=${PREFIX}.1/24`, 'ipv4.nat=true', 'ipv6.address=none');
  const names = containerNames(count);
  names.forEach((name, index) => {
    incus('init', image, name, '--project', PROJECT, '--network', BRIDGE);
    incus('config', 'device', 'set', name, 'eth0', `ipv4.address=${PREFIX}.${index + 10}`, '--project', PROJECT);
    incus('start', name, '--project', PROJECT);
  });
  for (;;) {
    const instances = JSON.parse(incus('list', '--project', PROJECT, '--format', 'json'));
    const ready = names.every((name, index) => {
      const instance = instances.find((candidate) => candidate.name === name);
      const addresses = (instance?.state?.network?.eth0?.addresses ?? []).filter(
        (address) => address.family === 'inet',
      );
      return addresses.some((address) => address.address === `${PREFIX}.${index + 10}`);
    });
    if (ready) break;
    spawnSync('sleep', ['1']);
  }
  return seconds(started);
}

/** Runs incus without waiting, for the floor's overlapped creates and starts. */
function incusAsync(...incusArgs) {
  return new Promise((resolve, reject) => {
    const child = spawn('incus', incusArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`incus ${incusArgs.join(' ')} failed: ${stderr.trim()}`)),
    );
  });
}

/**
 * The floor of the container phase: `count` containers created and started with no network device at all,
 * four at a time as distctl's apply runs them; done when every `incus start` has returned.
 */
async function floor(count) {
  incus('project', 'create', PROJECT, '-c', 'features.images=false', '-c', 'features.profiles=false');
  const started = process.hrtime.bigint();
  const queue = containerNames(count);
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      await incusAsync('create', image, name, '--project', PROJECT);
      await incusAsync('start', name, '--project', PROJECT);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return seconds(started);
}

/** A topology of `count` containers on the bench bridge. */
function topology(count) {
  const doc = parseDocument(readFileSync(join(root, 'topology.yaml'), 'utf8'));
  doc.set('project', PROJECT);
  doc.set('image', image);
  doc.setIn(['network', 'name'], BRIDGE);
  doc.setIn(['network', 'subnet'], `${PREFIX}.0/24`);
  doc.setIn(['network', 'gateway'], `${PREFIX}.1`);
  for (const key of ['mongodb', 'sharding', 'services', 'expose']) doc.delete(key);
  doc.set(
    'containers',
    containerNames(count).map((name, index) => ({ name, ipv4: `${PREFIX}.${index + 10}` })),
  );
  return doc.toString();
}

function distctl(file, ...commandArgs) {
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, [join(root, 'bin/distctl'), ...commandArgs, '-f', file, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, DISTCTL_STATE_DIR: join(dir, 'state'), NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const wall = seconds(started);
  const last = run.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .pop();
  const json = last ? JSON.parse(last) : {};
  return {
    seconds: wall,
    code: run.status,
    calls: json.incusCalls ?? '?',
    failed: json.failedStages ?? [],
    stderr: run.stderr,
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The 1, 5 and 15 minute load averages: the machine may be shared, so every figure is printed with it. */
function loadAverage() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

const lines = [];
const say = (line) => {
  lines.push(line);
  console.log(line);
};

/**
 * Waits (untimed) until every container has finished booting. `up` returns as soon as each holds its address,
 * which raw.lxc gives before the container's init runs, so the boots go on after it; the figures after the cold
 * up are of distctl, not of booting containers competing for the CPU.
 */
function settle(count) {
  for (const name of containerNames(count))
    spawnSync('incus', ['exec', '--project', PROJECT, name, '--', 'systemctl', 'is-system-running', '--wait'], {
      stdio: 'ignore',
    });
}

function measureContainers(count, label) {
  const file = join(dir, `topology-${label}.yaml`);
  writeFileSync(file, topology(count));
  clean();
  const cold = distctl(file, 'up', '--yes');
  if (cold.code !== 0) throw new Error(`cold up of ${count} containers failed: ${cold.stderr}`);
  settle(count);
  const noop = distctl(file, 'up', '--yes');
  const status = distctl(file, 'status');
  const plan = distctl(file, 'plan');
  distctl(file, 'down', '--yes');
  clean();
  return { cold, noop, status, plan };
}

// dist/ is what bin/distctl runs: compile the checkout first, so the figures are never those of a stale build.
const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) throw new Error('npm run build failed: the bench measures the compiled checkout');

try {
  say(`distctl perf bench — image ${image}, ${new Date().toISOString()}`);
  say(
    `machine: ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores, ${spawnSync('sh', ['-c', "free -g | awk '/Mem:/ {print $2}'"], { encoding: 'utf8' }).stdout.trim()} GiB, incus ${
      incus('version')
        .split('\n')
        .find((l) => l.startsWith('Server'))
        ?.split(':')[1]
        ?.trim() ?? '?'
    }, storage ${JSON.parse(incus('storage', 'list', '--format', 'json'))[0]?.driver ?? '?'}`,
  );
  say(`load average at the start: ${loadAverage()}`);
  say('');
  say(`1. container phase, five containers (median of ${runs} runs each, alternating)`);
  const hand = [];
  const ours = [];
  const floors = [];
  for (let run = 0; run < runs; run += 1) {
    clean();
    hand.push(handProcedure(5));
    clean();
    const result = measureContainers(5, 'five');
    ours.push(result);
    clean();
    floors.push(await floor(5));
    clean();
  }
  const handMedian = median(hand);
  const coldMedian = median(ours.map((result) => result.cold.seconds));
  say(
    `   hand procedure     ${hand.map((value) => value.toFixed(2)).join(' / ')} s  → median ${handMedian.toFixed(2)} s`,
  );
  say(
    `   distctl cold up    ${ours.map((result) => result.cold.seconds.toFixed(2)).join(' / ')} s  → median ${coldMedian.toFixed(2)} s (${ours[0].cold.calls} incus calls)`,
  );
  say(`   ratio              ${(coldMedian / handMedian).toFixed(2)} × the hand procedure (goal ≤ 0.50)`);
  const floorMedian = median(floors);
  say(
    `   floor              ${floors.map((value) => value.toFixed(2)).join(' / ')} s  → median ` +
      `${floorMedian.toFixed(2)} s (create + start, no network, 4 at a time)`,
  );
  say(`   load average       ${loadAverage()} (at the end of part 1)`);
  say('');
  say('2–4. five containers, containers only');
  say(
    `   no-op up           ${median(ours.map((result) => result.noop.seconds)).toFixed(2)} s (${ours[0].noop.calls} incus calls)`,
  );
  say(
    `   status             ${median(ours.map((result) => result.status.seconds)).toFixed(2)} s (${ours[0].status.calls} incus calls)`,
  );
  say(
    `   plan               ${median(ours.map((result) => result.plan.seconds)).toFixed(2)} s (goal ≤ 0.30; ${ours[0].plan.calls} incus calls)`,
  );

  if (!flag('--skip-stack')) {
    say('');
    say('2–4. full reference stack (services deployed; MongoDB from the image: the databases stage fails fast)');
    measureStack({ image, runs, project: PROJECT, bridge: BRIDGE, prefix: PREFIX, say });
  }

  if (!flag('--skip-scale')) {
    say('');
    say('5. scale curve, containers only');
    say('   containers  cold up s (calls)  no-op up s (calls)  status s (calls)');
    for (const count of [5, 20, 50]) {
      const result = measureContainers(count, `scale-${count}`);
      const cell = (step) => `${step.seconds.toFixed(2)} (${step.calls})`.padEnd(19);
      say(`   ${String(count).padEnd(11)} ${cell(result.cold)}${cell(result.noop)}${cell(result.status)}`);
    }
  }
} finally {
  clean();
  rmSync(dir, { recursive: true, force: true });
}
