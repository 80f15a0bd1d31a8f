#!/usr/bin/env node
// Mutation score per file (StrykerJS with its vitest runner; configuration in stryker.config.mjs).
// Not part of `npm test`: a full run takes tens of minutes on 2 cores. Incremental: a re-run only
// tests the mutants whose code or tests changed since reports/stryker-incremental.json was written.
//
//   node bench/mutation.mjs                       every file stryker.config.mjs names
//   node bench/mutation.mjs src/plan/index.ts …   only these files (globs allowed)
//   node bench/mutation.mjs --report-only         print the scores of the last run without running
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const REPORT = `${root}reports/mutation/mutation.json`;
const TARGET = 80;
const args = process.argv.slice(2);
const reportOnly = args.includes('--report-only');
const files = args.filter((arg) => !arg.startsWith('--'));

if (!reportOnly) {
  const strykerArgs = [
    'stryker',
    'run',
    '--concurrency',
    '1',
    ...(files.length > 0 ? ['--mutate', files.join(',')] : []),
  ];
  const started = Date.now();
  const run = spawnSync('npx', strykerArgs, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  console.log(
    `\nstryker ${strykerArgs.slice(1).join(' ')}: exit ${run.status}, ${Math.round((Date.now() - started) / 1000)} s`,
  );
  if (run.status !== 0) process.exit(run.status ?? 1);
}
if (!existsSync(REPORT)) {
  console.error(`no report at ${REPORT}: run without --report-only first`);
  process.exit(1);
}

// Stryker's "total" score: killed and timed-out mutants over all valid ones (uncovered ones count as survivors).
const report = JSON.parse(readFileSync(REPORT, 'utf8'));
const rows = Object.entries(report.files).map(([file, { mutants }]) => {
  const count = (...statuses) => mutants.filter((mutant) => statuses.includes(mutant.status)).length;
  const detected = count('Killed', 'Timeout');
  const undetected = count('Survived', 'NoCoverage');
  const score = detected + undetected === 0 ? 100 : (100 * detected) / (detected + undetected);
  return {
    file,
    detected,
    survived: count('Survived'),
    noCoverage: count('NoCoverage'),
    ignored: count('Ignored'),
    score,
  };
});
rows.sort((a, b) => a.file.localeCompare(b.file));
const width = Math.max(...rows.map((row) => row.file.length), 4);
console.log(`${'file'.padEnd(width)}  score   killed  survived  no-cov  ignored`);
for (const row of rows) {
  const mark = row.score >= TARGET ? 'ok' : `below ${TARGET} %`;
  console.log(
    `${row.file.padEnd(width)}  ${row.score.toFixed(1).padStart(5)} %  ${String(row.detected).padStart(6)}  ${String(row.survived).padStart(8)}  ${String(row.noCoverage).padStart(6)}  ${String(row.ignored).padStart(7)}  ${mark}`,
  );
}
const below = rows.filter((row) => row.score < TARGET).length;
console.log(`${rows.length - below} of ${rows.length} files at or above ${TARGET} %`);
