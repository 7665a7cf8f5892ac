#!/bin/bash
# Brings up the lab: N StackStorm test hosts reachable over SSH at 10.200.0.x (see lab/README.md).
# usage: up.sh [--hosts N] [--version V] [--os OS] [--name-prefix P] [--enterprise]
#   --hosts N          hosts P1..PN (default 2)
#   --version V        install the StackStorm test double at version V (e.g. 2.0.1) and seed it
#                      (SEED_KEYS, SEED_USER, SEED_PASSWORD, SEED_EDIT_CONF go to lab/double/seed.sh)
#   --os OS            the OS new hosts claim in /etc/os-release (lab/lib/os.tsv: ubuntu:14.04 …
#                      ubuntu:22.04, rocky:8, rocky:9; `debian` = the image's own); default with
#                      --version: one that release supported (lab/double/os-defaults.tsv).
#                      rocky:*: the el image (rpm, dnf, `yum`) and the double's rpms via dnf
#   --name-prefix P    host name prefix (default st2h)
#   --enterprise       with --version: also the enterprise package (st2enterprise / bwc-enterprise)
# Idempotent: hosts that are already up are left as they are. Writes $LAB_DIR/hosts.json.
set -euo pipefail
# shellcheck source=lab/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=lab/lib/host.sh
. "$LAB_LIB/host.sh"
# shellcheck source=lab/lib/double.sh
. "$LAB_LIB/double.sh"

HOSTS=2
VERSION=
OS=
PREFIX=st2h
while [ $# -gt 0 ]; do
  case $1 in
    --hosts) HOSTS=${2:?--hosts needs a number}; shift 2 ;;
    --hosts=*) HOSTS=${1#*=}; shift ;;
    --version) VERSION=${2:?--version needs a version}; shift 2 ;;
    --version=*) VERSION=${1#*=}; shift ;;
    --os) OS=${2:?--os needs an OS, e.g. ubuntu:18.04}; shift 2 ;;
    --os=*) OS=${1#*=}; shift ;;
    --name-prefix) PREFIX=${2:?--name-prefix needs a prefix}; shift 2 ;;
    --name-prefix=*) PREFIX=${1#*=}; shift ;;
    --enterprise) export LAB_ENTERPRISE=1; shift ;;
    -h | --help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) lab_die "unknown argument '$1' (see --help)" ;;
  esac
done
if ! [[ $HOSTS =~ ^[0-9]+$ ]] || [ "$HOSTS" -lt 1 ] || [ "$HOSTS" -gt 200 ]; then lab_die "--hosts must be 1..200"; fi
[[ -z $VERSION || $VERSION =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || lab_die "bad --version '$VERSION'"
if [ -z "$OS" ] && [ -n "$VERSION" ]; then OS=$(lab_os_default "$VERSION"); fi
if [ "$OS" = debian ]; then OS=; fi
if [ -n "$OS" ] && ! lab_os_known "$OS"; then
  lab_die "unknown --os '$OS': one of $(awk -F'\t' '!/^#/ { printf "%s ", $1 }' "$LAB_LIB/os.tsv")or debian"
fi
NAMES=()
for i in $(seq 1 "$HOSTS"); do
  lab_valid_name "$PREFIX$i"
  NAMES+=("$PREFIX$i")
done

T_ALL=$(lab_now)
lab_lock
lab_require ip:iproute2 unshare:util-linux nsenter:util-linux findmnt:util-linux flock:util-linux \
  ssh:openssh-client ssh-keygen:openssh-client "$LAB_PYTHON:python3" timeout:coreutils

# 1. The lab's SSH client key (kept across down/up).
if [ ! -s "$LAB_KEY" ]; then
  mkdir -p "$(dirname "$LAB_KEY")"
  chmod 700 "$(dirname "$LAB_KEY")"
  ssh-keygen -q -t ed25519 -N '' -C st2-lab -f "$LAB_KEY"
  lab_log "made the lab key $LAB_KEY"
fi

# 2. The host image (built once per recipe); hosts of the RHEL family get its el flavor (rpm, dnf).
FLAVOR=()
if [ -n "$OS" ] && lab_os_is_el "$OS"; then FLAVOR=(--flavor el); fi
LOWER=$(bash "$LAB_REPO_ROOT/lab/bin/image.sh" "${FLAVOR[@]}" | tail -1)
[ -d "$LOWER/etc" ] || lab_die "image.sh gave no image root"

# 3. The StackStorm double's apt repository (and its rpm repository for RHEL-family hosts).
lab_repo_ensure
if [ -n "$OS" ] && lab_os_is_el "$OS"; then lab_rpm_repo_ensure "$(lab_os_el_major "$OS")"; fi

# 4. Bridge and the repository's HTTP server on it.
if ! ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
  # a fixed MAC: a bridge otherwise takes the lowest MAC of its ports, which changes as hosts come
  # and go and leaves stale ARP entries for the bridge address in the hosts
  ip link add "$LAB_BRIDGE" address "$LAB_BRIDGE_MAC" type bridge
  ip addr add "$LAB_BRIDGE_IP/24" dev "$LAB_BRIDGE"
fi
ip link set "$LAB_BRIDGE" up
lab_http_ensure

# 5. Addresses: a host keeps its address; new ones get the lowest free 10.200.0.11..250.
# A netns on this bridge that no record of this lab folder knows and no process uses is a dead host
# (of a run that was killed, or of another lab folder on the same bridge): it still holds its address
# (and the MAC derived from it) on the bridge, so it goes. Addresses held anywhere on the machine, or
# answering on the bridge, are never handed out again: this folder's records are not the only truth.
for n in $(lab_foreign_hosts dead); do
  lab_log "$n: removing a dead host on $LAB_BRIDGE that $LAB_DIR has no record of ($(ip -n "$(lab_netns "$n")" -4 -br addr show eth0 2>/dev/null | awk '{print $3}'))"
  lab_host_down "$n"
done
declare -A ADDR=()
used=" $(lab_net_addresses | tr '\n' ' ')"
for n in $(lab_all_hosts); do
  a=$(cat "$(lab_host_dir "$n")/address" 2>/dev/null || true)
  if [ -n "$a" ]; then used+="$a "; fi
done
for n in "${NAMES[@]}"; do
  a=$(cat "$(lab_host_dir "$n")/address" 2>/dev/null || true)
  if [ -z "$a" ]; then
    for k in $(seq 11 250); do
      if [[ $used == *" $LAB_NET_PREFIX.$k "* ]]; then continue; fi
      if lab_addr_answers "$LAB_NET_PREFIX.$k"; then
        lab_log "$LAB_NET_PREFIX.$k answers on $LAB_BRIDGE but no host of $LAB_DIR has it: skipping it"
        used+="$LAB_NET_PREFIX.$k "
        continue
      fi
      a=$LAB_NET_PREFIX.$k
      break
    done
    [ -n "$a" ] || lab_die "no free address left on $LAB_NET_PREFIX.0/24"
    used+="$a "
  fi
  ADDR[$n]=$a
done

# 6. Hosts, in parallel.
pids=()
for n in "${NAMES[@]}"; do
  lab_host_up "$n" "${ADDR[$n]}" "$LOWER" "$OS" &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { lab_log "${NAMES[$i]}: failed to start"; failed=1; }
done
[ "$failed" = 0 ] || { lab_write_hosts_json; lab_die "some hosts did not start (lab/bin/down.sh cleans up)"; }

# 7. StackStorm double at the asked version, seeded (only on hosts that do not have it yet).
pids=()
for n in "${NAMES[@]}"; do
  lab_double_install "$n" "$VERSION" &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { lab_log "${NAMES[$i]}: installing the StackStorm double failed"; failed=1; }
done

for n in "${NAMES[@]}"; do lab_host_record "$n" "$(cat "$(lab_host_dir "$n")/version" 2>/dev/null || true)"; done
lab_write_hosts_json
[ "$failed" = 0 ] || lab_die "some hosts are up without the StackStorm double (see above)"
lab_log "lab up in $(lab_since "$T_ALL") s: ${NAMES[*]} ($LAB_DIR/hosts.json)"
