#!/usr/bin/env bash
# Bring a Debian host to the state distctl's integration tier needs, idempotently:
# Incus installed (from <codename>-backports), daemon answering, a storage pool
# named `default`, and a root disk on the `default` profile. Safe to re-run; each
# step prints one line and either skips or does the work.
#
# Runs as root, never reads stdin (CI=true friendly). Hosts without systemd are
# the norm here, so the daemon is started directly and detached rather than via
# a unit. Mirror hostnames are never written down: the backports source is
# derived from the host's own apt configuration at run time.
set -euo pipefail

INCUSD_LOG=/var/log/incusd.log
POOL_NAME=default
POOL_SIZE=${DISTCTL_POOL_SIZE:-30GiB}
BACKPORTS_FILE=/etc/apt/sources.list.d/distctl-backports.sources

step() { printf '[ensure-incus] %s\n' "$*"; }
# Every change this script makes to the host is announced on one line of its own,
# with how to undo it; `distctl doctor --fix` lists them (docs/security.md too).
change() { printf '[ensure-incus] CHANGE %s | undo: %s\n' "$1" "$2"; }
fail() {
  printf '[ensure-incus] ERROR: %s\n' "$1" >&2
  [ $# -gt 1 ] && printf '[ensure-incus]   hint: %s\n' "$2" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || fail "must run as root (it installs packages and starts incusd)" "re-run with sudo"
export DEBIAN_FRONTEND=noninteractive
# `incus storage create` and friends read YAML from a non-terminal stdin and would
# wait forever on an open CI pipe; this script never needs stdin.
exec </dev/null

# shellcheck disable=SC1091
. /etc/os-release
CODENAME=${VERSION_CODENAME:-}
[ -n "$CODENAME" ] || fail "cannot tell the Debian codename from /etc/os-release" "this script supports Debian 12 (bookworm) hosts"

# Prints "URI|Components|Signed-By" of the main Debian archive as the host's apt
# knows it: the stanza/line whose suites include the bare codename. deb822 files
# first, then the classic one-line format.
main_archive_source() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v want="$CODENAME" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && uris != "" && !done) {
          split(uris, u, " "); print u[1] "|" comps "|" signed; done = 1
        }
        types = ""; uris = ""; suites = ""; comps = ""; signed = ""
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      {
        key = $1; sub(/:$/, "", key); val = $0; sub(/^[^:]*:[[:space:]]*/, "", val)
        if (key == "Types") types = val
        else if (key == "URIs") uris = val
        else if (key == "Suites") suites = val
        else if (key == "Components") comps = val
        else if (key == "Signed-By") signed = val
      }
      END { flush() }
    ' "$f"
  done | head -n1 | grep . && return 0
  if [ -f /etc/apt/sources.list ]; then
    # deb [options] URI suite components...
    awk -v want="$CODENAME" '
      $1 == "deb" {
        i = 2; signed = ""
        if ($2 ~ /^\[/) {
          while (i <= NF) {
            if ($i ~ /^\[?signed-by=/) { s = $i; sub(/^\[?signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
            if ($i ~ /\]$/) { i++; break }
            i++
          }
        }
        if ($(i + 1) == want) {
          comps = ""; for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
          print $i "|" comps "|" signed; exit
        }
      }
    ' /etc/apt/sources.list | grep . && return 0
  fi
  return 1
}

backports_configured() {
  grep -rqsE "(^Suites:.*[[:space:]]|^deb .*[[:space:]])${CODENAME}-backports([[:space:]]|$)" \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

# apt's view is stale on a fresh machine; refresh once per run at most.
APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    apt-get update -qq >/dev/null || fail "apt-get update failed" "check the host's apt sources and network access to its mirror"
    APT_UPDATED=1
  fi
}

incusd_path() {
  if [ -x /usr/libexec/incus/incusd ]; then echo /usr/libexec/incus/incusd; else command -v incusd || true; fi
}

# --- 1. packages ------------------------------------------------------------
# The client alone (package incus-client) is not enough: the daemon must be installed
# too, unless one is already answering (e.g. Incus from another source).
if command -v incus >/dev/null 2>&1 && { [ -n "$(incusd_path)" ] || incus query /1.0 >/dev/null 2>&1; }; then
  step "incus already installed ($(incus version 2>/dev/null | head -n1 | sed 's/^Client version: //'))"
else
  if backports_configured; then
    step "${CODENAME}-backports source already configured"
  else
    src=$(main_archive_source) || fail "no apt source for suite '${CODENAME}' found in /etc/apt/sources.list{,.d}" \
      "add the Debian archive to apt, or install incus >= 6.0 yourself"
    IFS='|' read -r uri comps signed <<<"$src"
    {
      echo "# Written by distctl bin/ensure-incus.sh: ${CODENAME}-backports from the same archive as ${CODENAME}."
      echo "Types: deb"
      echo "URIs: ${uri}"
      echo "Suites: ${CODENAME}-backports"
      echo "Components: ${comps:-main}"
      [ -n "$signed" ] && echo "Signed-By: ${signed}"
    } >"$BACKPORTS_FILE"
    step "added ${CODENAME}-backports source ($BACKPORTS_FILE)"
    change "apt source ${CODENAME}-backports added ($BACKPORTS_FILE)" "rm $BACKPORTS_FILE && apt-get update"
  fi
  apt_update_once
  step "installing incus from ${CODENAME}-backports (takes about a minute)"
  start=$(date +%s)
  apt-get install -y -qq -t "${CODENAME}-backports" incus >/dev/null \
    || fail "apt-get install -t ${CODENAME}-backports incus failed" "run it by hand to see apt's reason"
  step "incus installed in $(( $(date +%s) - start ))s ($(incus version 2>/dev/null | head -n1 | sed 's/^Client version: //'))"
  change "package incus installed from ${CODENAME}-backports" "apt-get purge incus && apt-get autoremove (deletes /var/lib/incus: every instance and image)"
fi

missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v mkfs.btrfs >/dev/null 2>&1 || missing+=(btrfs-progs)
if [ ${#missing[@]} -eq 0 ]; then
  step "debootstrap and btrfs-progs already installed"
else
  apt_update_once
  apt-get install -y -qq "${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]} failed" "run it by hand to see apt's reason"
  step "installed ${missing[*]}"
  change "packages ${missing[*]} installed" "apt-get remove ${missing[*]}"
fi

# --- 2. daemon --------------------------------------------------------------
if incus query /1.0 >/dev/null 2>&1; then
  step "incusd already answering"
else
  if [ -d /run/systemd/system ] && systemctl cat incus.service >/dev/null 2>&1; then
    # Where systemd runs, let it own the daemon (restarts, boot start).
    systemctl start incus.socket incus.service || fail "systemctl start incus failed" "see: journalctl -u incus"
    step "started incus.service via systemd"
    change "incus.service started" "systemctl stop incus.service incus.socket"
  else
    INCUSD=$(incusd_path)
    [ -n "$INCUSD" ] || fail "incusd binary not found (looked in /usr/libexec/incus and PATH)" "reinstall the incus package"
    getent group incus-admin >/dev/null || groupadd --system incus-admin
    # setsid + nohup + closed stdin: the daemon must outlive this script and any CI step.
    setsid nohup "$INCUSD" --group incus-admin >>"$INCUSD_LOG" 2>&1 </dev/null &
    step "started incusd (pid $!, log $INCUSD_LOG)"
    change "incusd started outside any service manager (pid $!, log $INCUSD_LOG; not started again at boot)" "incus admin shutdown"
  fi
  incus admin waitready --timeout=60 >/dev/null 2>&1 \
    || fail "incusd did not become ready within 60s" "see the last lines of $INCUSD_LOG"
  step "incusd ready"
fi

# --- 3. storage pool --------------------------------------------------------
if incus storage show "$POOL_NAME" >/dev/null 2>&1; then
  step "storage pool '$POOL_NAME' exists ($(incus storage get "$POOL_NAME" source 2>/dev/null | head -c 80 || true); driver $(incus query "/1.0/storage-pools/$POOL_NAME" | sed -n 's/.*"driver": *"\([^"]*\)".*/\1/p'))"
else
  # btrfs on a loop file: instance creation from a cached image is a snapshot
  # (~0.2 s) instead of an unpack (~3 s with `dir`).
  if err=$(incus storage create "$POOL_NAME" btrfs "size=$POOL_SIZE" 2>&1); then
    step "created storage pool '$POOL_NAME' (btrfs loop file, $POOL_SIZE)"
    change "storage pool $POOL_NAME created: a btrfs loop file of up to $POOL_SIZE under /var/lib/incus/disks" "incus storage delete $POOL_NAME (after deleting the instances and images in it)"
  else
    step "btrfs pool failed (${err##*$'\n'}); falling back to dir"
    incus storage create "$POOL_NAME" dir >/dev/null 2>&1 \
      || fail "could not create storage pool '$POOL_NAME' (btrfs nor dir)" "see $INCUSD_LOG; check free space under /var/lib/incus"
    step "created storage pool '$POOL_NAME' (dir)"
    change "storage pool $POOL_NAME created: directory /var/lib/incus/storage-pools/$POOL_NAME, no size limit" "incus storage delete $POOL_NAME (after deleting the instances and images in it)"
  fi
fi

# --- 4. root disk on the default profile -------------------------------------
if incus profile device get default root pool --project default >/dev/null 2>&1; then
  step "default profile has a root disk (pool $(incus profile device get default root pool --project default))"
else
  incus profile device add default root disk path=/ "pool=$POOL_NAME" --project default >/dev/null \
    || fail "could not add a root disk to the default profile" "run: incus profile device add default root disk path=/ pool=$POOL_NAME"
  step "added root disk (pool $POOL_NAME) to the default profile"
  change "root disk (pool $POOL_NAME) added to the default profile of project default" "incus profile device remove default root --project default"
fi

# --- 5. IPv4 forwarding -----------------------------------------------------
# Incus turns net.ipv4.conf.all.forwarding on itself when it brings up a managed
# bridge with IPv4 routing (the default). Turning it on here as well covers
# bridges that already existed before a host reboot reset the sysctl.
if [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "1" ]; then
  step "IPv4 forwarding already on"
else
  sysctl -qw net.ipv4.ip_forward=1 || fail "could not enable IPv4 forwarding" "run: sysctl -w net.ipv4.ip_forward=1"
  step "enabled IPv4 forwarding"
  change "IPv4 forwarding turned on host-wide (net.ipv4.ip_forward=1: every interface routes; not persisted, a reboot resets it)" "sysctl -w net.ipv4.ip_forward=0 (only if nothing else on the host needs forwarding)"
fi

step "ok: incus $(incus version 2>/dev/null | sed -n 's/^Server version: //p') ready"
