#!/usr/bin/env bash
# Start-up figures for goal 4: wall, user and system seconds of `node bin/distctl …` (median of N runs, default 5),
# the load average before each command, and how long `plan` runs before its first incus call. It measures the
# dist/ that is there (run `npm run build` first). Benchmarks print figures; tests never time anything.
# Usage: bash bench/startup.sh [runs]   (plan makes read-only incus calls; the topology's project need not exist)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
measure() { # label command...
  local label=$1 wall=() user=() sys=() w u s
  shift
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$work/times" -f '%e %U %S' "$@" >/dev/null 2>&1
    read -r w u s <"$work/times"
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

# An `incus` first on PATH that notes when it is first called, then runs the real one.
real_incus=$(command -v incus)
mkdir "$work/bin"
printf '#!/bin/sh\n[ -e %s ] || date +%%s.%%N >%s\nexec %s "$@"\n' "$work/first" "$work/first" "$real_incus" \
  >"$work/bin/incus"
chmod +x "$work/bin/incus"
firsts=()
for _ in $(seq "$runs"); do
  rm -f "$work/first"
  start=$(date +%s.%N)
  PATH="$work/bin:$PATH" node bin/distctl plan -f topology.yaml >/dev/null 2>&1
  firsts+=("$(awk -v start="$start" '{ printf "%.2f", $1 - start }' "$work/first")")
done
printf '%-34s %s s  (load %s)\n' 'plan: start until 1st incus call' "$(printf '%s\n' "${firsts[@]}" | median)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
