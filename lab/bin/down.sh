#!/bin/bash
# Removes what lab/bin/up.sh made: every host's processes, mounts, network namespace and veth, then
# the bridge and the repository's HTTP server. Keeps the cached image, the lab key and the built repo.
# Works after a partial or failed up.
# usage: down.sh                      everything
#        down.sh --name-prefix P      only hosts named P<number> (bridge and HTTP server stay)
#        down.sh NAME...              only those hosts (bridge and HTTP server stay)
set -euo pipefail
# shellcheck source=lab/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=lab/lib/host.sh
. "$LAB_LIB/host.sh"
# shellcheck source=lab/lib/double.sh
. "$LAB_LIB/double.sh"

PREFIX=
SELECTED=()
while [ $# -gt 0 ]; do
  case $1 in
    --name-prefix) PREFIX=${2:?--name-prefix needs a prefix}; shift 2 ;;
    --name-prefix=*) PREFIX=${1#*=}; shift ;;
    -h | --help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) lab_die "unknown option '$1'" ;;
    *) lab_valid_name "$1"; SELECTED+=("$1"); shift ;;
  esac
done
EVERYTHING=
if [ -z "$PREFIX" ] && [ "${#SELECTED[@]}" -eq 0 ]; then EVERYTHING=1; fi

T0=$(lab_now)
lab_lock

HOSTS=()
for n in $(lab_all_hosts); do
  if [ -n "$EVERYTHING" ] || [[ -n $PREFIX && $n =~ ^"$PREFIX"[0-9]+$ ]] || [[ " ${SELECTED[*]} " == *" $n "* ]]; then
    HOSTS+=("$n")
  fi
done

pids=()
for n in "${HOSTS[@]}"; do
  lab_host_down "$n" &
  pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done

if [ -n "$EVERYTHING" ]; then
  pid=$(lab_http_pid)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do lab_alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(lab_http_pid_file)" "$LAB_DIR/run/http.pid" # http.pid: the one file of earlier versions
  # Stray veths of hosts whose records were lost, then the bridge.
  for v in $(ip -o link show master "$LAB_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$v" 2>/dev/null || true
  done
  ip link del "$LAB_BRIDGE" 2>/dev/null || true
  # Anything still mounted under the hosts' folder.
  if [ -d "$LAB_DIR/hosts" ]; then
    findmnt -rn -o TARGET | awk -v d="$LAB_DIR/hosts/" 'index($0, d) == 1' | sort -r | while IFS= read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" || true
    done
    rmdir "$LAB_DIR/hosts" 2>/dev/null || true
  fi
fi
lab_write_hosts_json

# Check: nothing of the removed hosts is left.
for n in "${HOSTS[@]}"; do
  if ip netns list | awk '{print $1}' | grep -qx "$(lab_netns "$n")"; then lab_log "netns $(lab_netns "$n") is still there"; failed=1; fi
  if findmnt -rn -o TARGET | grep -q "^$(lab_host_dir "$n")/"; then lab_log "mounts of $n are still there"; failed=1; fi
done
if [ -n "$EVERYTHING" ] && ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then lab_log "bridge $LAB_BRIDGE is still there"; failed=1; fi
[ "$failed" = 0 ] || lab_die "lab not fully removed (see above)"
lab_log "lab down in $(lab_since "$T0") s (${#HOSTS[@]} hosts removed)"
