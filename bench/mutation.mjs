#!/usr/bin/env node
// Mutation score per file (StrykerJS with its vitest runner; configuration in stryker.config.mjs).
// Not part of `npm test`: a full run takes tens of minutes on 2 cores. Incremental: a re-run only
// tests the mutants whose code or tests changed since reports/stryker-incremental.json was written.
//
//   node bench/mutation.mjs                       every file stryker.config.mjs names
//   node bench/mutation.mjs src/plan/index.ts …   only these files (globs allowed)
//   node bench/mutation.mjs --report-only         print the scores of the last run without running
//   node bench/mutation.mjs --group=up src/commands/up.ts
//                                                 a run of its own: its incremental file and its report are
//                                                 kept per group (reports/mutation/groups/up.json), so runs of
//                                                 different files on a busy machine do not overwrite each other
//   node bench/mutation.mjs --concurrency=2 …        two mutants at once (default 1)
//   node bench/mutation.mjs --report-only --all-groups
//                                                 one table over every group's last report
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const REPORT = `${root}reports/mutation/mutation.json`;
const TARGET = 80;
const args = process.argv.slice(2);
const reportOnly = args.includes('--report-only');
const files = args.filter((arg) => !arg.startsWith('--'));
const group = args.find((arg) => arg.startsWith('--group='))?.slice('--group='.length);
// One mutant at a time by default: on a 2-core machine shared with other work. `--concurrency=2` on an idle one.
const concurrency = args.find((arg) => arg.startsWith('--concurrency='))?.slice('--concurrency='.length) ?? '1';
const GROUPS = `${root}reports/mutation/groups`;

if (!reportOnly) {
  const strykerArgs = [
    'stryker',
    'run',
    '--concurrency',
    concurrency,
    ...(files.length > 0 ? ['--mutate', files.join(',')] : []),
    ...(group
      ? ['--incrementalFile', `reports/stryker-incremental-${group}.json`, '--tempDirName', `.stryker-tmp-${group}`]
      : []),
  ];
  const started = Date.now();
  const load = () =>
    loadavg()
      .map((value) => value.toFixed(1))
      .join(' ');
  console.log(`started ${new Date(started).toISOString()}, load average ${load()}`);
  const run = spawnSync('npx', strykerArgs, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  console.log(
    `\nstryker ${strykerArgs.slice(1).join(' ')}: exit ${run.status}, ${Math.round((Date.now() - started) / 1000)} s, load average at the end ${load()}`,
  );
  if (run.status !== 0) process.exit(run.status ?? 1);
  if (group) {
    mkdirSync(GROUPS, { recursive: true });
    copyFileSync(REPORT, `${GROUPS}/${group}.json`);
  }
}
const reports = args.includes('--all-groups')
  ? readdirSync(GROUPS)
      .filter((name) => name.endsWith('.json'))
      .map((name) => `${GROUPS}/${name}`)
  : [group && reportOnly ? `${GROUPS}/${group}.json` : REPORT];
for (const path of reports) {
  if (!existsSync(path)) {
    console.error(`no report at ${path}: run without --report-only first`);
    process.exit(1);
  }
  console.log(`${path.slice(root.length)}: written ${statSync(path).mtime.toISOString()}`);
}

// Stryker's "total" score: killed and timed-out mutants over all valid ones (uncovered ones count as survivors).
// A file in several reports is taken from the newest one.
const byFile = new Map();
for (const path of reports.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs))
  for (const [file, result] of Object.entries(JSON.parse(readFileSync(path, 'utf8')).files)) byFile.set(file, result);
const rows = [...byFile].map(([file, { mutants }]) => {
  const count = (...statuses) => mutants.filter((mutant) => statuses.includes(mutant.status)).length;
  const detected = count('Killed', 'Timeout');
  const undetected = count('Survived', 'NoCoverage');
  const score = detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected);
  return {
    file,
    detected,
    timedOut: count('Timeout'),
    survived: count('Survived'),
    noCoverage: count('NoCoverage'),
    ignored: count('Ignored'),
    score,
  };
});
rows.sort((a, b) => a.file.localeCompare(b.file));
const width = Math.max(...rows.map((row) => row.file.length), 4);
console.log(`${'file'.padEnd(width)}  score   killed  timeout  survived  no-cov  ignored`);
for (const row of rows) {
  const mark = row.score >= TARGET ? 'ok' : `below ${TARGET} %`;
  console.log(
    `${row.file.padEnd(width)}  ${row.score.toFixed(1).padStart(5)} %  ${String(row.detected - row.timedOut).padStart(6)}  ${String(row.timedOut).padStart(7)}  ${String(row.survived).padStart(8)}  ${String(row.noCoverage).padStart(6)}  ${String(row.ignored).padStart(7)}  ${mark}`,
  );
}
const below = rows.filter((row) => row.score < TARGET).length;
console.log(`${rows.length - below} of ${rows.length} files at or above ${TARGET} %`);
