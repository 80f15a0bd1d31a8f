#!/usr/bin/env bash
# The test command (`npm test`): installs what the tests need on a fresh
# machine, then runs every tier and prints one summary line per tier and a
# closing "N passed, N failed" line. A tier that cannot run says why; a tier
# that fails makes the whole run fail.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
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

declare -A tier_status
run_tier() { # name, extra env...
  local name=$1
  say "tier: $name"
  if npx vitest run --project "$name" --reporter=default --reporter=json --outputFile.json="$results/$name.json"; then
    tier_status[$name]=passed
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

say "summary"
node --input-type=module - "$results" <<'JS'
import { readdirSync, readFileSync } from 'node:fs';
const dir = process.argv[2];
let passed = 0, failed = 0, skipped = 0;
for (const file of readdirSync(dir)) {
  const report = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
  passed += report.numPassedTests; failed += report.numFailedTests + (report.numFailedTestSuites ?? 0) - 0;
  skipped += report.numPendingTests + report.numTodoTests;
  console.log(`${file.replace('.json', '')}: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests} skipped`);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
JS
status=0
for tier in unit mongod integration; do
  state=${tier_status[$tier]:-not run}
  [ "$tier" = integration ] && [ -n "$integration_note" ] && state=$integration_note
  echo "tier $tier: $state"
  case "$state" in failed*) status=1 ;; esac
done
exit $status
