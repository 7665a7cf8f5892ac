# shellcheck shell=bash
# The StackStorm test double: its apt repository (built by lab/double/build-repo.sh), the HTTP server
# that serves it on the bridge, and installing + seeding it on a host. Sourced after common.sh, host.sh.

LAB_DOUBLE_DIR=$LAB_REPO_ROOT/lab/double
LAB_REPO=$LAB_DIR/repo

# Hash of the double's sources (tracked and untracked, not ignored): a change rebuilds the repository.
lab_double_hash() {
  (
    cd "$LAB_REPO_ROOT" || exit 1
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
      git ls-files -z -co --exclude-standard -- lab/double
    else
      find lab/double -type f -print0
    fi | sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16
  )
}

# lab_repo_ensure: $LAB_DIR/repo holds a flat apt repository (Packages), rebuilt when stale.
lab_repo_ensure() {
  local build=$LAB_DOUBLE_DIR/build-repo.sh stamp t0
  if [ ! -f "$build" ]; then
    lab_log "lab/double/build-repo.sh does not exist yet: serving an EMPTY apt repository (no StackStorm double)"
    mkdir -p "$LAB_REPO"
    [ -f "$LAB_REPO/Packages" ] || : > "$LAB_REPO/Packages"
    echo none > "$LAB_DIR/repo.stamp"
    return 0
  fi
  stamp=$(lab_double_hash)
  if [ -f "$LAB_REPO/Packages" ] && [ "$(cat "$LAB_DIR/repo.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  lab_log "building the StackStorm double's apt repository (lab/double/build-repo.sh $LAB_REPO)"
  t0=$(lab_now)
  # build-repo.sh updates the folder in place (new debs first, indexes last) and skips itself
  # when its sources did not change.
  bash "$build" "$LAB_REPO" >&2 || lab_die "lab/double/build-repo.sh failed"
  [ -s "$LAB_REPO/Packages" ] || lab_die "lab/double/build-repo.sh made no $LAB_REPO/Packages"
  echo "$stamp" > "$LAB_DIR/repo.stamp"
  lab_log "apt repository built in $(lab_since "$t0") s: $(grep -c '^Package:' "$LAB_REPO/Packages" || true) packages"
}

# lab_rpm_repo_ensure MAJOR: $LAB_DIR/repo/el<MAJOR> holds the double's rpm repository (repodata/),
# built by lab/double/build-rpm-repo.sh (which skips itself when its sources did not change).
lab_rpm_repo_ensure() {
  local out=$LAB_REPO/el$1 t0
  [ "$1" = 8 ] || lab_log "the double has rpms for EL 8 only: el$1 hosts find no StackStorm package"
  t0=$(lab_now)
  bash "$LAB_DOUBLE_DIR/build-rpm-repo.sh" "$LAB_REPO/el8" >&2 || lab_die "lab/double/build-rpm-repo.sh failed"
  [ -s "$LAB_REPO/el8/repodata/repomd.xml" ] || lab_die "lab/double/build-rpm-repo.sh made no repodata"
  if [ "$1" = 8 ]; then lab_log "rpm repository ready in $(lab_since "$t0") s: $(find "$out" -name '*.rpm' | wc -l) packages"; fi
}

# lab_rpm_version PACKAGE VERSION: the rpm repository's newest VERSION-<release> of PACKAGE, from
# the file names (NAME-VERSION-RELEASE.ARCH.rpm).
lab_rpm_version() {
  find "$LAB_REPO/el8" -maxdepth 1 -name "$1-$2-*.rpm" -printf '%f\n' 2>/dev/null \
    | sed -E "s/^$1-(.*)\.[^.]+\.rpm\$/\1/" | grep -E "^$2-[^-]+\$" | sort -V | tail -1
}

# lab_http_listener: PID of whatever listens on the bridge's repository port, or nothing.
lab_http_listener() {
  ss -Hltnp "sport = :$LAB_HTTP_PORT" 2>/dev/null | awk -v a="$LAB_BRIDGE_IP:$LAB_HTTP_PORT" '$4 == a' \
    | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true
}

# lab_http_dir PID: the --directory a repository server serves.
lab_http_dir() {
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | awk 'prev == "--directory" { print; exit } { prev = $0 }'
}

# The pid file of this lab folder's repository server on LAB_BRIDGE: one per bridge, since a server
# binds its bridge's address and a folder may serve hosts on another bridge (LAB_BRIDGE=...) too.
lab_http_pid_file() { printf '%s' "$LAB_DIR/run/http-$LAB_BRIDGE.pid"; }

lab_http_pid() { # PID of the running repository server of this lab folder on LAB_BRIDGE, or nothing
  local pid
  pid=$(cat "$(lab_http_pid_file)" 2>/dev/null || true)
  if [ -n "$pid" ] && grep -q http.server "/proc/$pid/cmdline" 2>/dev/null; then printf '%s' "$pid"; return 0; fi
  # pid file lost (failed up): whoever listens on the bridge's port, if it serves this lab's repository
  # (another lab folder's server on the same bridge would give our hosts its packages)
  pid=$(lab_http_listener)
  if [ -n "$pid" ] && [ "$(lab_http_dir "$pid")" = "$LAB_REPO" ]; then printf '%s' "$pid"; fi
  return 0
}

lab_http_ensure() {
  local pid other
  mkdir -p "$LAB_DIR/run"
  pid=$(lab_http_pid)
  if [ -n "$pid" ]; then return 0; fi
  pid=$(lab_http_listener)
  if [ -n "$pid" ]; then
    other=$(lab_http_dir "$pid")
    if grep -q http.server "/proc/$pid/cmdline" 2>/dev/null && [ -n "$other" ] && { [ ! -d "$other" ] || [ -z "$(lab_foreign_hosts live)" ]; }; then
      # A lab folder removed without lab/bin/down.sh (a deleted checkout) left its server behind, or
      # one whose hosts are all gone from this bridge (a killed run, a CI checkout left in place):
      # nothing of it runs that its server could be serving.
      lab_log "stopping the repository server of an idle lab folder on $LAB_BRIDGE_IP:$LAB_HTTP_PORT (pid $pid, $other): no host of it runs on $LAB_BRIDGE"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do lab_alive "$pid" || break; sleep 0.1; done
    else
      lab_die "$LAB_BRIDGE_IP:$LAB_HTTP_PORT is served by pid $pid (${other:-not a lab repository}), not this lab's $LAB_REPO: another lab folder uses bridge $LAB_BRIDGE (give this one LAB_BRIDGE=… LAB_NET=…, or run that one's lab/bin/down.sh)"
    fi
  fi
  setsid "$LAB_PYTHON" -m http.server "$LAB_HTTP_PORT" --bind "$LAB_BRIDGE_IP" --directory "$LAB_REPO" \
    >>"$LAB_DIR/run/http.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! > "$(lab_http_pid_file)"
  for _ in $(seq 1 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$LAB_BRIDGE_IP/$LAB_HTTP_PORT" 2>/dev/null; then
      lab_log "apt repository served at http://$LAB_BRIDGE_IP:$LAB_HTTP_PORT/ (pid $(cat "$(lab_http_pid_file)"))"
      return 0
    fi
    sleep 0.05
  done
  lab_die "the repository's HTTP server did not start (see $LAB_DIR/run/http.log)"
}

# lab_repo_version PACKAGE VERSION: the repository's newest VERSION or VERSION-<revision> of PACKAGE.
lab_repo_version() {
  awk -v p="$1" -v v="$2" '
    /^Package: / { pkg = $2 }
    /^Version: / { if (pkg == p && ($2 == v || index($2, v "-") == 1)) print $2 }
  ' "$LAB_REPO/Packages" | sort -V | tail -1
}

# Packages a StackStorm host has, in install order (st2mistral only where version V has it).
LAB_DOUBLE_PACKAGES=(st2 st2mistral st2web st2chatops)
# With LAB_ENTERPRISE=1 (up.sh --enterprise) also the enterprise package of that era.
LAB_DOUBLE_ENTERPRISE=(st2enterprise bwc-enterprise)

# lab_double_install NAME VERSION: installs the double at VERSION on the host and seeds it, once.
# SEED_KEYS, SEED_USER, SEED_PASSWORD, SEED_EDIT_CONF from the environment are passed to seed.sh.
lab_double_install() {
  local name=$1 version=$2 d installed pins=() p v t0
  d=$(lab_host_dir "$name")
  [ -n "$version" ] || return 0
  if [ -s "$d/os" ] && lab_os_is_el "$(cat "$d/os")"; then lab_double_install_rpm "$name" "$version"; return; fi
  if [ -z "$(lab_repo_version st2 "$version")" ]; then
    if [ ! -f "$LAB_DOUBLE_DIR/build-repo.sh" ]; then
      lab_log "$name: no StackStorm double yet (lab/double/build-repo.sh missing): host left without st2 $version"
      return 0
    fi
    lab_log "$name: the double's repository has no st2 $version (see lab/double/versions.tsv)"
    return 1
  fi
  # Already installed by an earlier up: no SSH login (tests count the logins sshd accepted).
  if [ -s "$d/version" ]; then return 0; fi
  installed=$(lab_ssh "$name" "dpkg-query -W -f='\${Version}' st2 2>/dev/null" || true)
  if [ -n "$installed" ]; then
    if [ "$installed" != "$version" ] && [[ $installed != "$version"-* ]]; then
      lab_log "$name: already has st2 $installed; leaving it (bring the host down for a fresh one)"
    fi
    echo "${installed%-*}" > "$d/version"
    return 0
  fi
  t0=$(lab_now)
  # Every StackStorm host has a RabbitMQ broker (the runbook's 2.3 step deletes a queue on it).
  v=$(lab_repo_version rabbitmq-server 3.8.9); if [ -n "$v" ]; then pins+=("rabbitmq-server=$v"); fi
  for p in "${LAB_DOUBLE_PACKAGES[@]}"; do
    v=$(lab_repo_version "$p" "$version")
    if [ -n "$v" ]; then pins+=("$p=$v"); fi
  done
  if [ "${LAB_ENTERPRISE:-0}" = 1 ]; then
    for p in "${LAB_DOUBLE_ENTERPRISE[@]}"; do
      v=$(lab_repo_version "$p" "$version")
      if [ -n "$v" ]; then pins+=("$p=$v"); fi
    done
  fi
  lab_ssh "$name" "sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pins[*]}" \
    >"$d/double-install.log" 2>&1 || { tail -20 "$d/double-install.log" >&2; return 1; }
  lab_double_seed "$name" || return 1
  echo "$version" > "$d/version"
  lab_log "$name: st2 $version installed and seeded in $(lab_since "$t0") s (${pins[*]})"
}

# lab_double_install_rpm NAME VERSION: lab_double_install on a RHEL-family host: the same packages,
# from the rpm repository, with `yum install NAME-VERSION-RELEASE` (dnf), then seed.sh.
lab_double_install_rpm() {
  local name=$1 version=$2 d installed pins=() p v t0
  d=$(lab_host_dir "$name")
  if [ -z "$(lab_rpm_version st2 "$version")" ]; then
    lab_log "$name: the double's rpm repository has no st2 $version (lab/double/build-rpm-repo.sh EL_VERSIONS)"
    return 1
  fi
  if [ -s "$d/version" ]; then return 0; fi
  # rpm -q prints "package st2 is not installed" on stdout: only ask for the version when it is
  installed=$(lab_ssh "$name" "if rpm -q st2 >/dev/null 2>&1; then rpm -q --qf '%{VERSION}-%{RELEASE}' st2; fi" || true)
  if [ -n "$installed" ]; then
    echo "${installed%-*}" > "$d/version"
    return 0
  fi
  t0=$(lab_now)
  v=$(lab_rpm_version rabbitmq-server 3.8.9); if [ -n "$v" ]; then pins+=("rabbitmq-server-$v"); fi
  for p in st2 st2web st2chatops; do
    v=$(lab_rpm_version "$p" "$version")
    if [ -n "$v" ]; then pins+=("$p-$v"); fi
  done
  lab_ssh "$name" "sudo yum -y -q install ${pins[*]}" \
    >"$d/double-install.log" 2>&1 || { tail -20 "$d/double-install.log" >&2; return 1; }
  lab_double_seed "$name" || return 1
  echo "$version" > "$d/version"
  lab_log "$name: st2 $version installed (rpm) and seeded in $(lab_since "$t0") s (${pins[*]})"
}

# lab_double_seed NAME: runs lab/double/seed.sh on the host (SEED_KEYS, SEED_USER, SEED_PASSWORD,
# SEED_EDIT_CONF from the environment are passed on); its JSON summary goes to hosts/NAME/seed.json.
lab_double_seed() {
  local name=$1 d seed_env=() var
  d=$(lab_host_dir "$name")
  [ -f "$LAB_DOUBLE_DIR/seed.sh" ] || return 0
  for var in SEED_KEYS SEED_USER SEED_PASSWORD SEED_EDIT_CONF; do
    if [ -n "${!var+x}" ]; then seed_env+=("$(printf '%s=%q' "$var" "${!var}")"); fi
  done
  lab_ssh "$name" "sudo env ${seed_env[*]} bash -s" <"$LAB_DOUBLE_DIR/seed.sh" \
    >"$d/seed.json" 2>>"$d/double-install.log" || { tail -20 "$d/double-install.log" >&2; return 1; }
}
