#!/usr/bin/env node
// The full reference stack on the live Incus daemon: five containers, the
// databases (MongoDB from `source`, `image` by default: with no mongod in the
// image the databases stage fails fast and every `up` retries it) and both
// services deployed for real (Node bundles pushed into the containers). Prints
// cold `up`, then the medians of `runs` no-op `up`s, `status`es and `plan`s,
// each with its incus calls, and one more no-op `up` and `status` through a
// logging `incus` shim that counts the `incus exec` calls per container.
//
// bench/perf.mjs runs it as its stack part; alone:
//
//   node bench/perf-stack.mjs [--image ALIAS] [--runs N] [--project P] [--bridge B] [--prefix 10.x.y]
//                             [--source image|repository]
//
// Everything lives in its own project on its own bridge and subnet and is
// removed at the end, also on failure. Run it under the host lock.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';

const root = join(import.meta.dirname, '..');

function seconds(started) {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The reference topology moved onto the bench's project, bridge and subnet. */
function stackTopology({ project, bridge, prefix, image, source }) {
  const text = readFileSync(join(root, 'topology.yaml'), 'utf8').replaceAll('10.10.10.', `${prefix}.`);
  const doc = parseDocument(text);
  doc.set('project', project);
  doc.set('image', image);
  doc.setIn(['network', 'name'], bridge);
  doc.setIn(['mongodb', 'source'], source);
  // No host port: the bench must not bind anything another run or helper uses.
  doc.delete('expose');
  return doc.toString();
}

/** A directory holding an `incus` that logs each argv line to `log`, then runs the real one. */
function incusShim(dir, log) {
  const real = spawnSync('sh', ['-c', 'command -v incus'], { encoding: 'utf8' }).stdout.trim();
  const bin = join(dir, 'shim');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'incus'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`);
  chmodSync(join(bin, 'incus'), 0o755);
  return bin;
}

/** `incus exec` calls per container in the shim's log. */
function execsPerContainer(log) {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return {};
  }
  const counts = {};
  for (const line of text.split('\n')) {
    const match = /(?:^| )exec (\S+) --/.exec(line);
    if (match) counts[match[1]] = (counts[match[1]] ?? 0) + 1;
  }
  return counts;
}

/**
 * Measures the full stack; `say` prints a line. Returns the figures. Cleans
 * the project, containers and bridge before and after.
 */
export function measureStack({ image, runs = 3, project, bridge, prefix, source = 'image', say = console.log }) {
  const dir = mkdtempSync(join(tmpdir(), 'distctl-perf-stack-'));
  const file = join(dir, 'topology.yaml');
  writeFileSync(file, stackTopology({ project, bridge, prefix, image, source }));
  const env = { ...process.env, DISTCTL_STATE_DIR: join(dir, 'state'), NO_COLOR: '1' };

  const clean = () => {
    const listed = spawnSync('incus', ['list', '--project', project, '--format', 'json'], { encoding: 'utf8' });
    if (listed.status === 0) {
      const names = JSON.parse(listed.stdout).map((instance) => instance.name);
      if (names.length > 0) spawnSync('incus', ['delete', '--force', '--project', project, ...names]);
    }
    spawnSync('incus', ['project', 'delete', project], { stdio: 'ignore' });
    spawnSync('incus', ['network', 'delete', bridge], { stdio: 'ignore' });
  };

  const distctl = (extraEnv, ...commandArgs) => {
    const started = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [join(root, 'bin/distctl'), ...commandArgs, '-f', file, '--json'], {
      encoding: 'utf8',
      env: { ...env, ...extraEnv },
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
    const data = json.data ?? json;
    return {
      seconds: wall,
      code: run.status,
      calls: data.incusCalls ?? '?',
      failed: data.failedStages ?? [],
      stages: data.stages ?? [],
      stderr: run.stderr,
    };
  };

  const figures = {};
  try {
    clean();
    const cold = distctl({}, 'up', '--yes');
    figures.cold = cold;
    const stagesText = (result) =>
      result.stages.map((stage) => `${stage.stage} ${stage.status}${stage.error ? ` (${stage.error.code})` : ''}`);
    say(
      `   cold up            ${cold.seconds.toFixed(2)} s (${cold.calls} incus calls; ${stagesText(cold).join(', ')})`,
    );
    if (cold.stages.find((stage) => stage.stage === 'containers')?.status !== 'ok')
      throw new Error(`the containers stage failed: ${cold.stderr.slice(-2000)}`);

    const steps = { 'no-op up': ['up', '--yes'], status: ['status'], plan: ['plan'] };
    const goals = { 'no-op up': 'goal ≤ 1.0', status: 'goal ≤ 1.0', plan: 'goal ≤ 0.3' };
    for (const [name, argv] of Object.entries(steps)) {
      const results = Array.from({ length: runs }, () => distctl({}, ...argv));
      figures[name] = results;
      const failed = results[0].failed.length > 0 ? `; failed stages: ${results[0].failed.join(', ')}` : '';
      say(
        `   ${name.padEnd(18)} ${results.map((result) => result.seconds.toFixed(2)).join(' / ')} s → median ` +
          `${median(results.map((result) => result.seconds)).toFixed(2)} s (${goals[name]}; ${results[0].calls} incus calls${failed})`,
      );
    }

    // Once more through the logging shim: which containers each `incus exec` went to.
    for (const { name, argv } of [
      { name: 'no-op up', argv: ['up', '--yes'] },
      { name: 'status', argv: ['status'] },
    ]) {
      const log = join(dir, `${name.replace(/\W/g, '-')}.log`);
      const shim = incusShim(dir, log);
      distctl({ PATH: `${shim}:${process.env.PATH ?? ''}` }, ...argv);
      const counts = execsPerContainer(log);
      const text = Object.entries(counts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([container, count]) => `${container} ${count}`)
        .join(', ');
      figures[`${name} execs`] = counts;
      say(`   ${`${name}: incus exec`.padEnd(18)} ${text || 'none'} (per container; goal for up: ≤ 1 each)`);
    }
    // The floors the figures stand on, measured now: Node starting, the CLI starting, one read-only incus call
    // (an observation round: distctl asks its three reads at once) and one `incus exec` round-trip.
    const timed = (command, ...commandArgs) => {
      const started = process.hrtime.bigint();
      spawnSync(command, commandArgs, { stdio: 'ignore' });
      return seconds(started);
    };
    const floors = {
      'node -e 0': () => timed(process.execPath, '-e', '0'),
      'distctl --help': () => timed(process.execPath, join(root, 'bin/distctl'), '--help'),
      'incus list': () => timed('incus', 'list', '--project', project, '--format', 'json'),
      'incus exec … true': () => timed('incus', 'exec', '--project', project, 'auth-server', '--', 'true'),
    };
    for (const [name, measure] of Object.entries(floors)) {
      const values = Array.from({ length: Math.max(runs, 3) }, measure);
      figures[name] = values;
      say(`   floor: ${name.padEnd(17)} median ${median(values).toFixed(3)} s`);
    }
    // No command that reads the containers can be faster than Node starting, one observation round and one exec
    // round after it (no-op up, status and plan of this stack all do exactly that).
    const sequence = ['node -e 0', 'incus list', 'incus exec … true'].map((name) => median(figures[name]));
    figures['floor: read + exec'] = sequence.reduce((sum, value) => sum + value, 0);
    say(
      `   floor: node + one read round + one exec round = ${figures['floor: read + exec'].toFixed(3)} s ` +
        '(no-op up, status and plan of the stack cannot go below it)',
    );
    distctl({}, 'down', '--yes');
  } finally {
    clean();
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const image = option('--image', process.env.DISTCTL_TEST_IMAGE ?? 'debian12-distctl');
  console.log(`distctl full-stack bench — image ${image}, ${new Date().toISOString()}, load average ${load}`);
  measureStack({
    image,
    runs: Number(option('--runs', '3')),
    project: option('--project', 'distctl-perf-stack'),
    bridge: option('--bridge', 'perfstack0'),
    prefix: option('--prefix', '10.252.0'),
    source: option('--source', 'image'),
  });
  console.log(`load average after: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}
