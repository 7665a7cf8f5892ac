#!/bin/bash
# Fault injection on a lab host (see lab/README.md).
# usage: fault.sh NAME on|off KIND [ARG]
#   unreachable      the host's veth goes down: connections time out (off: back up)
#   drop-ssh [MATCH] kill the host's SSH session processes, dropping every open connection; with MATCH,
#                    first wait (up to LAB_FAULT_WAIT seconds, default 120) for a process on the host
#                    whose command line contains MATCH, i.e. drop the connection mid-step (off: nothing)
#   disk-full        a 64 KiB tmpfs over /var/cache/apt/archives: package downloads fail with
#                    "No space left on device" / "You don't have enough free space" (off: unmount it)
#   sudo-password    sudo asks st2admin for a password (sudo -n fails) (off: NOPASSWD again)
set -euo pipefail
# shellcheck source=lab/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=lab/lib/host.sh
. "$LAB_LIB/host.sh"

[ $# -ge 3 ] || lab_die "usage: fault.sh NAME on|off unreachable|drop-ssh|disk-full|sudo-password [ARG]"
NAME=$1 MODE=$2 KIND=$3 ARG=${4:-}
lab_valid_name "$NAME"
case $MODE in on | off) ;; *) lab_die "mode must be on or off, not '$MODE'" ;; esac
D=$(lab_host_dir "$NAME")
INIT=$(lab_host_init_pid "$NAME")
[ -n "$INIT" ] || lab_die "host $NAME is not up"
R=$D/root

# in_host CMD...: runs CMD in the host's namespaces (mount, pid, net, uts, ipc) and root.
in_host() { nsenter -t "$INIT" -m -p -n -u -i -r -w -- "$@"; }

# PIDs (machine's view) of the host's sshd processes serving connections: the descendants of the
# listening sshd, which is the child of the host's PID 1 (tini).
session_pids() {
  local listener p
  for p in $(tr ' ' '\n' <"/proc/$INIT/task/$INIT/children" 2>/dev/null); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sshd ]; then listener=$p; fi
  done
  [ -n "${listener:-}" ] || return 0
  descendants "$listener"
}
descendants() {
  local c
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n'); do
    printf '%s\n' "$c"
    descendants "$c"
  done
}

case $KIND in
  unreachable)
    if [ "$MODE" = on ]; then ip link set "$(lab_veth "$NAME")" down; else ip link set "$(lab_veth "$NAME")" up; fi
    ;;
  drop-ssh)
    [ "$MODE" = on ] || exit 0
    if [ -n "$ARG" ]; then
      deadline=$((SECONDS + ${LAB_FAULT_WAIT:-120}))
      while :; do
        # the command lines of every process of the host, NULs as spaces, in one line
        cmds=$(ip netns pids "$(lab_netns "$NAME")" | sed 's|.*|/proc/&/cmdline|' \
                 | xargs -r cat 2>/dev/null | tr '\0' ' ' || true)
        if [[ $cmds == *"$ARG"* ]]; then break; fi
        [ "$SECONDS" -lt "$deadline" ] || lab_die "no process matching '$ARG' appeared on $NAME"
        sleep 0.05
      done
    fi
    pids=$(session_pids | grep -E '^[0-9]+$' | while read -r p; do
      [ "$(cat "/proc/$p/comm" 2>/dev/null)" = sshd ] && echo "$p"
    done || true)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086  # a list of PIDs
      kill -KILL $pids 2>/dev/null || true
    fi
    lab_log "$NAME: dropped $(printf '%s' "$pids" | grep -c . || true) sshd session processes"
    ;;
  disk-full)
    if [ "$MODE" = on ]; then
      if ! in_host mountpoint -q /var/cache/apt/archives; then
        in_host mount -t tmpfs -o size=64k,mode=755 lab-disk-full /var/cache/apt/archives
        in_host install -d -o _apt -g root -m 700 /var/cache/apt/archives/partial
        in_host touch /var/cache/apt/archives/lock
        # fill it: the double's packages are small enough to fit in 64 KiB
        in_host sh -c 'dd if=/dev/zero of=/var/cache/apt/archives/.fill bs=4k 2>/dev/null || true'
      fi
    else
      while in_host mountpoint -q /var/cache/apt/archives; do in_host umount /var/cache/apt/archives; done
    fi
    ;;
  sudo-password)
    if [ "$MODE" = on ]; then
      printf 'st2admin ALL=(ALL) ALL\n' > "$R/etc/sudoers.d/st2admin.tmp"
    else
      printf 'st2admin ALL=(ALL) NOPASSWD:ALL\n' > "$R/etc/sudoers.d/st2admin.tmp"
    fi
    chmod 440 "$R/etc/sudoers.d/st2admin.tmp"
    mv "$R/etc/sudoers.d/st2admin.tmp" "$R/etc/sudoers.d/st2admin"
    ;;
  *) lab_die "unknown fault '$KIND' (unreachable, drop-ssh, disk-full, sudo-password)" ;;
esac
lab_log "$NAME: fault $KIND $MODE"
