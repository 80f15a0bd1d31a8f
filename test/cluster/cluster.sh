#!/usr/bin/env bash
# A three-member Incus cluster on this one machine, formed the way Incus's own
# test suite forms one (test/includes/clustering.sh upstream): one `incusd` per
# member, each with its own state directory (INCUS_DIR) and its own network and
# mount namespaces, joined over a test bridge and veths this script creates.
#
#   cluster.sh up      form the cluster (idempotent: a formed cluster is kept)
#   cluster.sh down    remove everything `up` made: daemons, namespaces, veths,
#                      the bridge, loop devices, mounts and state directories
#   cluster.sh prove   by hand: a VXLAN-joined bridge across the members, one
#                      container per member with a static address, TCP between
#                      containers on different members; removes what it made
#   cluster.sh env     print the exports that give an `incus` client the remote `dcl:` (member 1)
#                      and no local daemon
#
# The host's own Incus daemon is only read: the image's fingerprint, and one image
# export under the host lock. Nothing here routes or NATs to the outside: the
# member links and the containers use subnets checked to be unused on the host,
# and all traffic stays inside the namespaces and containers made here.
set -euo pipefail
exec </dev/null

DIR=${DCL_DIR:-/tmp/dcl}                     # short: unix socket paths must stay < 108 bytes
DRIVER=${DCL_DRIVER:-btrfs}                  # storage driver of the members' pool: btrfs | dir
LINK_NET=${DCL_LINK_NET:-172.31.201}         # /24 of the member links (host bridge is .1, member i is .1i)
CT_NET=${DCL_CT_NET:-172.31.202}             # /24 of the containers (static, in-container); the host is .254
BRIDGE=${DCL_BRIDGE:-dclbr0}                 # the test bridge in the host namespace
VNI=${DCL_VNI:-4243}                         # the containers' VXLAN segment (the topology's network.tunnel)
GROUP=${DCL_GROUP:-239.255.42.43}
HOST_LEG=dclvx0
IMAGE=${DCL_IMAGE:-debian12-distctl}         # host image exported once and imported into the cluster
IMAGE_CACHE=${DCL_IMAGE_CACHE:-/var/tmp/distctl-cluster-image}
REMOTE=${DCL_REMOTE:-dcl}                    # the client remote (in $INCUS_CONF) for member 1's unix socket
MEMBERS=(m1 m2 m3)
INCUSD=/usr/libexec/incus/incusd
[ -x "$INCUSD" ] || INCUSD=$(command -v incusd || true)
# The client config is ours, never the user's ~/.config/incus.
export INCUS_CONF="$DIR/conf"

STARTED=$(date +%s.%N)
step() { printf '[cluster %5s s] %s\n' "$(since "$STARTED")" "$*"; }
fail() { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
idx() { echo "${1#m}"; }
addr() { echo "$LINK_NET.1$(idx "$1")"; }
holder_pid() { cat "$DIR/ns/$1.pid" 2>/dev/null || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
# `incus` against one member's daemon (its unix socket in its state directory).
on() { local m=$1; shift; INCUS_DIR="$DIR/$m" incus "$@"; }
in_ns() { local m=$1; shift; nsenter -t "$(holder_pid "$m")" -n -m "$@"; }

# The containers of ours still known to the kernel: LXC names their cgroups lxc.monitor.NAME and
# lxc.payload.NAME, and the monitor's command line carries the container path, which is under $DIR.
our_containers() {
  local cg p
  for cg in /sys/fs/cgroup/pids/lxc.monitor.*; do
    [ -d "$cg" ] || continue
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do
      if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF " $DIR/"; then echo "${cg##*/lxc.monitor.}"; break; fi
    done
  done
}

down() {
  local m pid names=() name
  mapfile -t names < <(our_containers | sort -u)
  step "down: ${#names[@]} container(s) running"
  # Containers first, forced: a clean `incus admin shutdown` of each member waits for the
  # others (~2 minutes measured); the state is thrown away anyway.
  if alive "$(cat "$DIR/m1/incusd.pid" 2>/dev/null || true)"; then
    local project
    while IFS=, read -r project name; do
      [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
      timeout 30 env INCUS_DIR="$DIR/m1" incus stop --force --project "$project" "$name" >/dev/null 2>&1 &
    done < <(timeout 10 env INCUS_DIR="$DIR/m1" incus list --all-projects -c e,n --format csv 2>/dev/null || true)
    wait
    [ ${#names[@]} -eq 0 ] || step "stopped the containers: ${names[*]}"
  fi
  for m in "${MEMBERS[@]}"; do
    pid=$(cat "$DIR/$m/incusd.pid" 2>/dev/null || true)
    if alive "$pid"; then kill -9 "$pid" && step "killed incusd of $m (pid $pid)"; fi
  done
  # A container whose member died keeps running without its daemon: its processes go by cgroup.
  for name in "${names[@]}"; do
    pids=$(find /sys/fs/cgroup/pids/lxc.{monitor,payload}."$name" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
    # shellcheck disable=SC2086 # one pid per word
    if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null || true; step "killed the processes of container $name"; fi
  done
  for m in "${MEMBERS[@]}"; do
    # Anything still running in the member's namespaces (dnsmasq, forkproxy) goes with the holder.
    pid=$(holder_pid "$m")
    if alive "$pid"; then
      local others
      # One find over /proc (not a readlink per process: forks are slow on a loaded machine).
      # The link reads net:[INODE]: its brackets are escaped, -lname takes a glob.
      others=$(find /proc/[0-9]*/ns/net -maxdepth 0 \
        -lname "$(readlink "/proc/$pid/ns/net" | sed 's/[][*?]/\\&/g')" 2>/dev/null \
        | cut -d/ -f3 | grep -vx "$pid" || true)
      # shellcheck disable=SC2086 # one pid per word
      [ -n "$others" ] && kill -9 $others 2>/dev/null || true
      kill -9 "$pid" 2>/dev/null || true
      step "removed the namespaces of $m (holder pid $pid)"
    fi
    if ip link show "vdcl$(idx "$m")" >/dev/null 2>&1; then
      ip link del "vdcl$(idx "$m")" && step "removed veth vdcl$(idx "$m")"
    fi
  done
  # Their cgroups, in every hierarchy, deepest first, once the killed processes are gone: a cgroup left
  # behind makes the next container of that name fail to start (seen as Error, then Stopped).
  for name in "${names[@]}"; do
    for _ in $(seq 50); do
      find /sys/fs/cgroup/*/lxc.{monitor,payload}."$name" -depth -type d -exec rmdir {} + 2>/dev/null || true
      compgen -G "/sys/fs/cgroup/*/lxc.*.$name" >/dev/null || break
      sleep 0.2
    done
    compgen -G "/sys/fs/cgroup/*/lxc.*.$name" >/dev/null && step "WARNING: cgroups of $name remain"
  done
  if ip link show "$HOST_LEG" >/dev/null 2>&1; then ip link del "$HOST_LEG" && step "removed $HOST_LEG"; fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE" && step "removed bridge $BRIDGE"; fi
  # Loop devices backing the members' btrfs pools: released with their last mount; detach leftovers.
  local loop
  for loop in $(losetup -nO NAME,BACK-FILE 2>/dev/null | awk -v d="$DIR/" 'index($2, d) == 1 { print $1 }'); do
    losetup -d "$loop" && step "detached $loop"
  done
  # Mounts made in the host namespace under $DIR (none normally: members mount inside their own).
  local mnt
  for mnt in $(awk -v d="$DIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$mnt" && step "unmounted $mnt"
  done
  if [ -n "${DCL_KEEP_LOGS:-}" ] && [ -d "$DIR" ]; then
    # The daemons' and the containers' logs outlive the cluster, for the failure that needs them.
    rm -rf "$DCL_KEEP_LOGS" && mkdir -p "$DCL_KEEP_LOGS"
    for m in "${MEMBERS[@]}"; do
      [ -d "$DIR/$m" ] || continue
      mkdir -p "$DCL_KEEP_LOGS/$m" && cp -r "$DIR/$m/incusd.log" "$DIR/$m/logs" "$DCL_KEEP_LOGS/$m/" 2>/dev/null || true
    done
    step "kept the members' logs in $DCL_KEEP_LOGS"
  fi
  if [ -d "$DIR" ]; then rm -rf "$DIR" && step "removed $DIR"; fi
  local left
  left=$(pgrep -f -- "$DIR/" | grep -vx "$$" || true)
  [ -z "$left" ] || step "WARNING: processes naming $DIR remain: $(echo $left)"
  step "down: nothing of the test cluster is left"
}

check_host() {
  [ "$(id -u)" = 0 ] || fail "must run as root (namespaces, veths, incusd)"
  [ -n "$INCUSD" ] || fail "incusd not found (looked in /usr/libexec/incus and PATH)"
  local used
  used=$(ip -4 -o addr show; ip -4 route show table all)
  for net in "$LINK_NET" "$CT_NET"; do
    if grep -v -e "$BRIDGE" -e "$HOST_LEG" <<<"$used" | grep -q " $net\."; then
      fail "$net.0/24 is already used on this host: choose another with DCL_LINK_NET / DCL_CT_NET"
    fi
  done
}

# One member: a namespace holder (new mount + network namespaces, its own sysfs and
# proc so incusd sees only its interfaces), a veth into the test bridge, incusd.
spawn_member() {
  local m=$1 i pid
  i=$(idx "$m")
  mkdir -p "$DIR/ns" "$DIR/$m"
  if ! alive "$(holder_pid "$m")"; then
    setsid unshare --mount --net --propagation private sh -c '
      set -e
      mount --move /sys /mnt
      mount -t sysfs sysfs /sys
      mount --move /mnt/fs/cgroup /sys/fs/cgroup
      mount -t securityfs securityfs /sys/kernel/security 2>/dev/null || true
      umount -l /mnt
      umount -l /proc && mount -t proc proc /proc
      exec sleep infinity' >/dev/null 2>&1 &
    echo $! >"$DIR/ns/$m.pid"
    sleep 0.2
    alive "$(holder_pid "$m")" || fail "could not create the namespaces of $m"
    step "namespaces of $m created (holder pid $(holder_pid "$m"))"
  fi
  pid=$(holder_pid "$m")
  if ! ip link show "vdcl$i" >/dev/null 2>&1; then
    ip link add "vdcl$i" type veth peer name "vdcl${i}p"
    ip link set "vdcl${i}p" netns "$pid"
    ip link set "vdcl$i" master "$BRIDGE" up
    in_ns "$m" sh -c "ip link set lo up && ip link set vdcl${i}p name eth0 && ip link set eth0 up \
      && ip addr add $(addr "$m")/24 dev eth0"
    step "veth vdcl$i: $m is $(addr "$m") on $BRIDGE"
  fi
  if ! alive "$(cat "$DIR/$m/incusd.pid" 2>/dev/null || true)"; then
    INCUS_DIR="$DIR/$m" setsid nsenter -t "$pid" -n -m "$INCUSD" --logfile "$DIR/$m/incusd.log" \
      >>"$DIR/$m/incusd.out" 2>&1 &
    echo $! >"$DIR/$m/incusd.pid"
    on "$m" admin waitready --timeout=120 2>/dev/null || fail "incusd of $m not ready in 120 s (see $DIR/$m/incusd.log)"
    step "incusd of $m ready (pid $(cat "$DIR/$m/incusd.pid"))"
  fi
}

pool_config() { # the pool's per-member keys (btrfs: a loop file in the member's state dir)
  if [ "$DRIVER" = btrfs ]; then printf '    size: %s\n' "${DCL_POOL_SIZE:-3GiB}"; fi
}

bootstrap() {
  local m=m1
  if on "$m" cluster list >/dev/null 2>&1; then step "$m already a cluster member"; return; fi
  on "$m" admin init --preseed <<EOF
config:
  core.https_address: $(addr "$m"):8443
  images.auto_update_interval: 0
storage_pools:
- name: data
  driver: $DRIVER
  config:
$(pool_config)
profiles:
- name: default
  devices:
    root: { path: /, pool: data, type: disk }
cluster:
  server_name: $m
  enabled: true
EOF
  step "$m bootstrapped the cluster ($DRIVER pool 'data')"
}

join() {
  local m=$1 token cert
  if on "$m" cluster list >/dev/null 2>&1; then step "$m already a cluster member"; return; fi
  token=$(on m1 cluster add "$m" --quiet)
  cert=$(sed 's/^/    /' "$DIR/m1/cluster.crt")
  on "$m" admin init --preseed <<EOF
cluster:
  enabled: true
  server_name: $m
  server_address: $(addr "$m"):8443
  cluster_address: $(addr m1):8443
  cluster_certificate: |
$cert
  cluster_token: $token
  member_config:
  - { entity: storage-pool, name: data, key: source, value: "" }
$([ "$DRIVER" = btrfs ] && echo "  - { entity: storage-pool, name: data, key: size, value: ${DCL_POOL_SIZE:-3GiB} }")
EOF
  step "$m joined the cluster"
}

import_image() {
  if on m1 image alias list --format csv 2>/dev/null | grep -q "^$IMAGE,"; then
    step "image $IMAGE already in the cluster"; return
  fi
  local fp
  fp=$(incus query "/1.0/images/aliases/$IMAGE" 2>/dev/null | sed -n 's/.*"target": *"\([0-9a-f]*\)".*/\1/p') \
    || true
  [ -n "$fp" ] || fail "the host has no image '$IMAGE' (build it: bash test/host/ensure-image.sh)"
  if [ ! -s "$IMAGE_CACHE/$fp/done" ]; then
    rm -rf "$IMAGE_CACHE" && mkdir -p "$IMAGE_CACHE/$fp"
    # Read-only for the host daemon, but it is the host daemon: under the host lock.
    flock /tmp/distctl-incus.lock incus image export "$fp" "$IMAGE_CACHE/$fp/" >/dev/null
    echo "$fp" >"$IMAGE_CACHE/$fp/done"
    step "exported host image $IMAGE (${fp:0:12}) to $IMAGE_CACHE"
  fi
  local files=()
  mapfile -t files < <(find "$IMAGE_CACHE/$fp" -maxdepth 1 -type f ! -name done | sort)
  # A split image exports as meta-<fp>.tar.* plus <fp>.*: the metadata file goes first.
  if [ ${#files[@]} -eq 2 ] && [[ $(basename "${files[1]}") == meta-* ]]; then files=("${files[1]}" "${files[0]}"); fi
  on m1 image import "${files[@]}" --alias "$IMAGE" >/dev/null
  step "imported $IMAGE into the cluster"
}

up() {
  local t0 t
  t0=$(now)
  check_host
  trap 'step "up failed: cleaning up"; down' ERR
  mkdir -p "$DIR" "$INCUS_CONF"
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge mcast_snooping 0
    # The host's address on the bridge lets the host reach member 1's HTTPS API; nothing routes beyond it.
    ip addr add "$LINK_NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    step "bridge $BRIDGE ($LINK_NET.1/24, multicast flooded for VXLAN)"
  fi
  for m in "${MEMBERS[@]}"; do t=$(now); spawn_member "$m"; step "$m up in $(since "$t") s"; done
  # The host's own leg on the containers' segment: a VXLAN endpoint in the group and id the containers'
  # bridges use, with its own address and MAC. Not a route via a member: every member's bridge carries
  # the same gateway address and the same MAC, so a member reaches only the containers it runs itself.
  if ! ip link show "$HOST_LEG" >/dev/null 2>&1; then
    ip link add "$HOST_LEG" type vxlan id "$VNI" group "$GROUP" dev "$BRIDGE" dstport 8472 ttl 1
    ip addr add "$CT_NET.254/24" dev "$HOST_LEG"
    ip link set "$HOST_LEG" up
    step "host leg $HOST_LEG: $CT_NET.254/24 on the containers' VXLAN segment (id $VNI, group $GROUP)"
  fi
  t=$(now); bootstrap
  for m in m2 m3; do join "$m"; done
  step "cluster formed in $(since "$t") s"
  t=$(now); import_image; step "image ready in $(since "$t") s"
  if ! incus remote list --format csv | grep -q "^$REMOTE,"; then
    incus remote add "$REMOTE" "unix://$DIR/m1/unix.socket" >/dev/null
    step "client remote '$REMOTE' = unix://$DIR/m1/unix.socket (INCUS_CONF=$INCUS_CONF)"
  fi
  incus cluster list "$REMOTE:" --format csv -c nus | sed 's/^/[cluster]   /'
  trap - ERR
  step "up in $(since "$t0") s; client: eval \"\$($0 env)\""
}

# The proof by hand: a bridge joined by a multicast VXLAN tunnel on every member,
# no address and no DHCP on it (each member would otherwise answer for the whole
# segment), one container per member with a static address, TCP across members.
prove() {
  local net=dclvx t c m i
  trap 'step "prove failed: removing its containers and network"; unprove' ERR
  if ! on m1 network show "$net" >/dev/null 2>&1; then
    for m in "${MEMBERS[@]}"; do on m1 network create "$net" --target "$m" >/dev/null; done
    on m1 network create "$net" ipv4.address=none ipv6.address=none \
      tunnel.vx.protocol=vxlan tunnel.vx.id=4242 tunnel.vx.group=239.255.42.42 tunnel.vx.interface=eth0 >/dev/null
    step "network $net: bridge + VXLAN (group 239.255.42.42, id 4242) on every member"
  fi
  for m in "${MEMBERS[@]}"; do
    i=$(idx "$m"); c=dcl-proof-$m; t=$(now)
    on m1 init "$IMAGE" "$c" --target "$m" --network "$net" >/dev/null
    on m1 start "$c"
    on m1 exec "$c" -- ip addr add "$CT_NET.1$i/24" dev eth0
    step "$c on $m ($CT_NET.1$i) created and started in $(since "$t") s"
  done
  on m1 list dcl-proof -c nsL --format csv | sed 's/^/[cluster]   /'
  # A listener on m3's container (perl-base is in every Debian image; nc and python are not),
  # probed from the others with bash's /dev/tcp.
  on m1 exec dcl-proof-m3 -- sh -c "nohup perl -MIO::Socket::INET -e '\$s = IO::Socket::INET->new(LocalPort => 7777,
    Listen => 5, ReuseAddr => 1) or die; while (\$c = \$s->accept) { print \$c \"pong\"; close \$c }' \
    >/dev/null 2>&1 &"
  for t in $(seq 50); do on m1 exec dcl-proof-m3 -- ss -Hltn 'sport = 7777' | grep -q . && break; sleep 0.2; done
  for m in m1 m2; do
    t=$(now)
    reply=$(on m1 exec "dcl-proof-$m" -- timeout 10 bash -c "exec 3<>/dev/tcp/$CT_NET.13/7777; head -c 5 <&3")
    [ "$reply" = pong ] || fail "TCP from dcl-proof-$m to dcl-proof-m3 ($CT_NET.13:7777) got '$reply'"
    step "TCP dcl-proof-$m -> dcl-proof-m3 ($CT_NET.13:7777): '$reply' in $(since "$t") s"
  done
  trap - ERR
  unprove
  step "prove: containers on all three members, VXLAN bridge, TCP across members: ok"
}

unprove() {
  local m
  for m in "${MEMBERS[@]}"; do on m1 delete --force "dcl-proof-$m" >/dev/null 2>&1 || true; done
  on m1 network delete dclvx >/dev/null 2>&1 || true
}

case ${1:-} in
  up) up ;;
  down) down ;;
  prove) prove ;;
  # INCUS_DIR names no daemon, so a call that forgets the remote fails instead of reaching the host's.
  env) printf 'export INCUS_CONF=%q INCUS_DIR=%q\n' "$INCUS_CONF" "$DIR/no-local-daemon" ;;
  *) echo "usage: $0 up|down|prove|env" >&2; exit 2 ;;
esac
