#!/usr/bin/env bash
# Raises the host's inotify instance limit so that the integration files can run two at a time.
# Every unprivileged container's root is the same host uid, and each running container's systemd,
# journald, logind and dbus hold about a dozen inotify instances against it; at the kernel's default
# of 128 instances per uid, about ten running containers exhaust it, and then dnsmasq of a new bridge
# and systemd in new containers fail ("failed to create inotify: Too many open files"). Incus' own
# production-setup guidance raises the limit likewise. vitest.config.ts runs the files one at a time
# when the limit is below LIMIT. Run as root after bin/ensure-incus.sh; never reads stdin.
set -euo pipefail
LIMIT=1024
current=$(cat /proc/sys/fs/inotify/max_user_instances)
if [ "$current" -ge "$LIMIT" ]; then
  echo "[ensure-limits] fs.inotify.max_user_instances is $current (>= $LIMIT)"
elif sysctl -qw "fs.inotify.max_user_instances=$LIMIT"; then
  echo "[ensure-limits] CHANGE fs.inotify.max_user_instances raised from $current to $LIMIT (not persisted, a reboot" \
    "resets it) | undo: sysctl -w fs.inotify.max_user_instances=$current"
else
  echo "[ensure-limits] could not raise fs.inotify.max_user_instances ($current): the integration files run one at a time"
fi
