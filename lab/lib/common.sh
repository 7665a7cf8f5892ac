# shellcheck shell=bash
# Shared settings and helpers for the lab scripts (sourced, never run).
# Everything the lab makes lives under $LAB_DIR (default: <repo>/.lab, git-ignored).

# shellcheck disable=SC2034  # settings used by the scripts that source this file
LAB_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_DIR=${LAB_DIR:-$LAB_REPO_ROOT/.lab}
LAB_LIB=$LAB_REPO_ROOT/lab/lib
# A second lab on the same machine (another LAB_DIR) needs its own bridge and /24, e.g.
# LAB_BRIDGE=st2br1 LAB_NET=10.201.0, and host names of its own.
LAB_BRIDGE=${LAB_BRIDGE:-st2br0}
LAB_NET_PREFIX=${LAB_NET:-10.200.0}
LAB_BRIDGE_IP=$LAB_NET_PREFIX.1
IFS=. read -r _n1 _n2 _n3 <<<"$LAB_NET_PREFIX"
LAB_BRIDGE_MAC=$(printf '02:00:%02x:%02x:%02x:01' "$_n1" "$_n2" "$_n3")
LAB_HTTP_PORT=8080
LAB_USER=st2admin
LAB_KEY=$LAB_DIR/keys/id_ed25519
export LC_ALL=C.UTF-8 LANG=C.UTF-8

lab_log() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }
lab_die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch with nanoseconds, and elapsed seconds (3 decimals) since a mark.
lab_now() { date +%s.%N; }
lab_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }

[ "$(id -u)" -eq 0 ] || lab_die "the lab needs root (network namespaces, mounts, chroot)"

# lab_require CMD:PACKAGE ...  installs the Debian packages of the missing commands (fresh machines, CI).
LAB_APT_UPDATED=${LAB_APT_UPDATED:-}
lab_require() {
  local spec cmd pkg missing=()
  for spec in "$@"; do
    cmd=${spec%%:*}; pkg=${spec#*:}
    command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  lab_log "installing missing Debian packages: ${missing[*]}"
  if [ -z "$LAB_APT_UPDATED" ]; then apt-get update -qq; LAB_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The system Python (not a pyenv shim) serves the apt repository.
# shellcheck disable=SC2034
LAB_PYTHON=/usr/bin/python3

lab_valid_name() {
  # veth "v-NAME" must fit in 15 characters (IFNAMSIZ - 1).
  [[ $1 =~ ^[a-z][a-z0-9-]{0,12}$ ]] || lab_die "bad host name '$1' (a-z, 0-9, '-', at most 13 characters, starting with a letter)"
}

lab_host_dir() { printf '%s/hosts/%s' "$LAB_DIR" "$1"; }
lab_netns() { printf 'st2-%s' "$1"; }
lab_veth() { printf 'v-%s' "$1"; }

# lab_alive PID: the process exists and is not a zombie (the machine's init may reap late).
lab_alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# PID (in the machine's pid namespace) of PID 1 of a host's pid namespace, or nothing.
lab_host_init_pid() {
  local d pid child
  d=$(lab_host_dir "$1")
  pid=$(cat "$d/unshare.pid" 2>/dev/null) || return 0
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  # the PID may have been reused since: it must still be this host's unshare
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "unshare .*host-init.sh $1 " || return 0
  # unshare --fork: its only child is the host's PID 1
  child=$(awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null || true)
  [ -n "$child" ] && printf '%s' "$child"
  return 0
}

# Names of all hosts of this lab: a folder under hosts/, or a st2-NAME netns whose veth v-NAME is on
# this lab's bridge (a host whose folder was lost).
lab_all_hosts() {
  local n
  {
    if [ -d "$LAB_DIR/hosts" ]; then
      find "$LAB_DIR/hosts" -mindepth 1 -maxdepth 1 -type d -printf '%f\n'
    fi
    for n in $(ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^st2-//p'); do
      if ip -o link show "v-$n" 2>/dev/null | grep -q " master $LAB_BRIDGE "; then echo "$n"; fi
    done
  } | sort -u
}

# lab_foreign_hosts live|dead: hosts on this lab's bridge that this lab folder has no record of,
# with processes running (another lab folder's, in use) or none (a dead host: a killed run's netns).
lab_foreign_hosts() {
  local n running
  for n in $(lab_all_hosts); do
    [ -d "$(lab_host_dir "$n")" ] && continue
    running=$(ip netns pids "$(lab_netns "$n")" 2>/dev/null || true)
    case "$1:${running:+running}" in live:running | dead:) echo "$n" ;; esac
  done
}

# Every IPv4 address of the lab's /24 configured on this machine: its own interfaces and those of
# every named network namespace, whatever this lab folder's records say. A lab host whose processes
# were killed (a run that was stopped, another lab folder using the same bridge) leaves its netns
# behind: its eth0 keeps the address and the MAC derived from it, answers ARP and refuses port 22.
lab_net_addresses() {
  local ns
  {
    ip -4 -o addr show 2>/dev/null
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do ip -n "$ns" -4 -o addr show 2>/dev/null; done
  } | awk -v p="$LAB_NET_PREFIX." '{ split($4, a, "/"); if (index(a[1], p) == 1) print a[1] }' | sort -u
}

# lab_addr_answers ADDR: something on the bridge answers at ADDR (port 22 accepts or refuses within
# 0.3 s; an address nobody holds gets no ARP reply and times out).
lab_addr_answers() {
  local out
  out=$(timeout 0.3 bash -c "exec 3<>/dev/tcp/$1/22" 2>&1) && return 0
  [[ $out == *"Connection refused"* ]]
}

# Rewrites $LAB_DIR/hosts.json from the per-host records of hosts that are up.
lab_write_hosts_json() {
  local f out=$LAB_DIR/hosts.json sep=''
  mkdir -p "$LAB_DIR"
  {
    printf '['
    for f in "$LAB_DIR"/hosts/*/host.json; do
      [ -e "$f" ] || continue
      [ -n "$(lab_host_init_pid "$(basename "$(dirname "$f")")")" ] || continue
      printf '%s\n' "$sep"
      sep=','
      sed -e 's/^/  /' "$f" | sed -e '$ s/$//' | head -c -1
    done
    printf '\n]\n'
  } > "$out.tmp"
  mv "$out.tmp" "$out"
}

# Serialise lab changes (up, down, parallel test files) on one lock (fd 9; daemons the lab starts
# must not inherit it: they are started with 9>&-).
lab_lock() {
  mkdir -p "$LAB_DIR"
  exec 9>"$LAB_DIR/.lock"
  flock -w 900 9 || lab_die "could not lock $LAB_DIR/.lock"
}
