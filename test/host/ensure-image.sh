#!/usr/bin/env bash
# Makes sure the base image the integration tier launches exists, building it
# with distctl itself (`distctl image build`, ~75 s) when it does not. Run after
# ensure-incus.sh, as root, from anywhere; never reads stdin.
set -euo pipefail
cd "$(dirname "$0")/../.."

ALIAS=debian12-distctl

step() { printf '[ensure-image] %s\n' "$*"; }

if incus query "/1.0/images/aliases/${ALIAS}?project=default" </dev/null >/dev/null 2>&1; then
  step "image ${ALIAS} already present"
  exit 0
fi
step "image ${ALIAS} missing: building it with distctl image build"
start=$(date +%s)
if ! node bin/distctl image build --alias "$ALIAS" </dev/null; then
  printf '[ensure-image] ERROR: distctl image build --alias %s failed\n' "$ALIAS" >&2
  printf '[ensure-image]   hint: run it by hand to see the step that failed (needs root, debootstrap and a reachable Debian mirror)\n' >&2
  exit 1
fi
step "built ${ALIAS} in $(( $(date +%s) - start ))s"
