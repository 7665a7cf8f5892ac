# shellcheck shell=bash
# Shared settings and helpers for the lab scripts (sourced, never run).
# Everything the lab makes lives under $LAB_DIR (default: <repo>/.lab, git-ignored).

# shellcheck disable=SC2034  # settings used by the scripts that source this file
LAB_REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_DIR=${LAB_DIR:-$LAB_REPO_ROOT/.lab}
LAB_LIB=$LAB_REPO_ROOT/lab/lib
LAB_BRIDGE=st2br0
LAB_BRIDGE_IP=10.200.0.1
LAB_NET_PREFIX=10.200.0
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

# PID (in the machine's pid namespace) of PID 1 of a host's pid namespace, or nothing.
lab_host_init_pid() {
  local d pid child
  d=$(lab_host_dir "$1")
  pid=$(cat "$d/unshare.pid" 2>/dev/null) || return 0
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
  # unshare --fork: its only child is the host's PID 1
  child=$(awk '{print $1}' "/proc/$pid/task/$pid/children" 2>/dev/null || true)
  [ -n "$child" ] && printf '%s' "$child"
  return 0
}

# Names of all hosts the lab knows about (a directory under hosts/, or a st2-* netns).
lab_all_hosts() {
  {
    if [ -d "$LAB_DIR/hosts" ]; then
      find "$LAB_DIR/hosts" -mindepth 1 -maxdepth 1 -type d -printf '%f\n'
    fi
    ip netns list 2>/dev/null | awk '{print $1}' | sed -n 's/^st2-//p'
  } | sort -u
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
