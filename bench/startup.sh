#!/usr/bin/env bash
# Start-up figures for goal 4: wall, user and system seconds of `node bin/distctl …` (median of N runs, default 5),
# with the load average before each command. Benchmarks print figures; tests never time anything.
# Usage: bash bench/startup.sh [runs]   (plan makes read-only incus calls; the topology's project need not exist)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
times=$(mktemp)
trap 'rm -f "$times"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
measure() { # label command...
  local label=$1 wall=() user=() sys=() w u s
  shift
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$times" -f '%e %U %S' "$@" >/dev/null 2>&1
    read -r w u s <"$times"
    wall+=("$w") user+=("$u") sys+=("$s")
  done
  printf '%-34s wall %s  user %s  sys %s  (load %s)\n' "$label" \
    "$(printf '%s\n' "${wall[@]}" | median)" "$(printf '%s\n' "${user[@]}" | median)" \
    "$(printf '%s\n' "${sys[@]}" | median)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
measure 'node -e 0' node -e 0
measure 'distctl --help' node bin/distctl --help
measure 'distctl validate -f topology.yaml' node bin/distctl validate -f topology.yaml
measure 'distctl plan -f topology.yaml' node bin/distctl plan -f topology.yaml
