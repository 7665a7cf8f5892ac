# shellcheck shell=bash
# Starting and stopping one lab host (sourced by up.sh and down.sh, after common.sh).
#
# A host NAME is: an overlayfs root $LAB_DIR/hosts/NAME/root (lower: the shared read-only image,
# upper: hosts/NAME/upper), a network namespace st2-NAME whose eth0 is the peer of veth v-NAME on
# bridge st2br0, and new mount/uts/ipc/pid namespaces whose PID 1 is tini running sshd -D -e
# (stderr: hosts/NAME/sshd.log). Killing that PID 1 ends every process of the host.

lab_json_str() { # JSON string literal
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# lab_host_is_up NAME: PID 1 alive and sshd accepting connections.
lab_host_is_up() {
  local d addr
  d=$(lab_host_dir "$1")
  [ -n "$(lab_host_init_pid "$1")" ] || return 1
  addr=$(cat "$d/address" 2>/dev/null) || return 1
  timeout 2 bash -c "exec 3<>/dev/tcp/$addr/22" 2>/dev/null
}

# lab_sshd_key_is ADDR KEY: the sshd at ADDR presents the ed25519 host key KEY (base64). No login.
lab_sshd_key_is() {
  ssh-keyscan -T 2 -t ed25519 "$1" 2>/dev/null | awk '{ print $3 }' | grep -qxF "$2"
}

# lab_addr_holder ADDR: the named network namespaces (or "this machine") holding ADDR, for messages.
lab_addr_holder() {
  local ns held=()
  if ip -4 -o addr show 2>/dev/null | awk '{ print $4 }' | grep -qx "$1/[0-9]*"; then held+=("this machine"); fi
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    if ip -n "$ns" -4 -o addr show 2>/dev/null | awk '{ print $4 }' | grep -qx "$1/[0-9]*"; then
      held+=("netns $ns, $(if [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; then echo running; else echo no process; fi)")
    fi
  done
  if [ "${#held[@]}" -eq 0 ]; then held=("no netns of this machine: it answers on the bridge"); fi
  local IFS=';'
  printf '%s' "${held[*]}"
}

# lab_host_down NAME: removes every trace of the host, whatever state it is in.
lab_host_down() {
  local name=$1 d ns veth init p i mnt
  d=$(lab_host_dir "$name")
  ns=$(lab_netns "$name")
  veth=$(lab_veth "$name")
  init=$(lab_host_init_pid "$name")
  # PID 1 first: the kernel then kills everything else in its pid namespace.
  if [ -n "$init" ]; then kill -KILL "$init" 2>/dev/null || true; fi
  # Anything else still in the host's network namespace (the unshare parent, strays of a failed up).
  for i in $(seq 1 50); do
    p=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$p" ] || break
    # shellcheck disable=SC2086  # a list of PIDs
    kill -KILL $p 2>/dev/null || true
    sleep 0.1
  done
  if [ -f "$d/unshare.pid" ]; then
    p=$(cat "$d/unshare.pid")
    if [ -n "$p" ] && [ -d "/proc/$p" ] && grep -q unshare "/proc/$p/cmdline" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
    fi
  fi
  ip link del "$veth" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  if [ -f "$d/address" ]; then ip neigh flush to "$(cat "$d/address")" dev "$LAB_BRIDGE" 2>/dev/null || true; fi
  # Mounts under the host's folder, innermost first (normally only the overlay root).
  if [ -d "$d" ]; then
    for i in $(seq 1 50); do
      mnt=$(findmnt -rn -o TARGET | awk -v d="$d/" 'index($0, d) == 1' | sort -r)
      [ -n "$mnt" ] || break
      while IFS= read -r p; do umount "$p" 2>/dev/null || { [ "$i" -gt 20 ] && umount -l "$p" 2>/dev/null; } || true; done <<<"$mnt"
      sleep 0.1
    done
    if findmnt -rn -o TARGET | awk -v d="$d/" 'index($0, d) == 1' | grep -q .; then
      lab_die "could not unmount everything under $d"
    fi
    rm -rf "$d"
  fi
  return 0
}

# lab_host_up NAME ADDRESS LOWER [OS]: starts the host (nothing to do when it is already up); OS: a
# key of lab/lib/os.tsv the host claims in /etc/os-release (none: the image's Debian 12).
lab_host_up() {
  local name=$1 addr=$2 lower=$3 os=${4:-} d r ns veth t0 pid deadline key
  d=$(lab_host_dir "$name")
  r=$d/root
  ns=$(lab_netns "$name")
  veth=$(lab_veth "$name")
  if lab_host_is_up "$name"; then
    if [ "$(cat "$d/lower" 2>/dev/null)" = "$lower" ]; then
      lab_log "$name: already up at $addr"
    else
      lab_log "$name: already up at $addr, on an older image (down it to get the new one)"
    fi
    if [ "$(cat "$d/os" 2>/dev/null)" != "$os" ]; then
      lab_log "$name: already up claiming '$(cat "$d/os" 2>/dev/null)', not '$os' (down it to change)"
    fi
    return 0
  fi
  # Leftovers of a failed or older start: start clean.
  if [ -d "$d" ] || ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    lab_log "$name: removing a previous, not fully running instance"
    lab_host_down "$name"
  fi
  t0=$(lab_now)
  step() { if [ "${LAB_TIMING:-0}" = 1 ]; then lab_log "$name: $1 at $(lab_since "$t0") s"; fi; }
  mkdir -p "$d/upper" "$d/work" "$r"
  echo "$addr" > "$d/address"
  echo "$lower" > "$d/lower"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$r"
  step overlay

  # Identity: name, address, its own SSH host keys, the lab's client key.
  echo "$name" > "$r/etc/hostname"
  echo "$os" > "$d/os"
  if [ -n "$os" ]; then lab_os_claim "$r" "$os"; fi
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n%s\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    "$name" "$addr" "$name" > "$r/etc/hosts"
  : > "$r/etc/resolv.conf"
  # Host keys are made once per host name and kept with the lab key (a host keeps its identity
  # across down/up; RSA key generation alone would cost half a second per start).
  if [ ! -s "$LAB_DIR/keys/hosts/$name/etc/ssh/ssh_host_ed25519_key" ]; then
    mkdir -p "$LAB_DIR/keys/hosts/$name/etc/ssh"
    ssh-keygen -q -A -f "$LAB_DIR/keys/hosts/$name" >/dev/null
  fi
  cp -p "$LAB_DIR/keys/hosts/$name"/etc/ssh/ssh_host_* "$r/etc/ssh/"
  step host-keys
  install -m 600 -o 1000 -g 1000 "$LAB_KEY.pub" "$r/home/$LAB_USER/.ssh/authorized_keys"
  rm -f "$r/etc/apt/sources.list" "$r/etc/apt/sources.list.d/debian.sources"
  if [ -n "$os" ] && lab_os_is_el "$os"; then
    # A RHEL-family host (the image's el flavor): StackStorm comes from the double's rpm repository
    # for this EL major, through dnf; apt has no source.
    rm -f "$r/etc/apt/sources.list.d/st2.list"
    lab_yum_repo_file "$(lab_os_el_major "$os")" > "$r/etc/yum.repos.d/st2-lab.repo"
    lab_os_el_major "$os" > "$r/etc/dnf/vars/releasever"
    # Debian's dnf-plugins-core enables plugins RHEL ships apart and a RHEL host does not have:
    # `local` (its `_dnf_local` repository fails dnf.conf's gpgcheck) and `show-leaves`.
    if [ -d "$r/etc/dnf/plugins" ]; then
      printf '[main]\nenabled = false\n' | tee "$r/etc/dnf/plugins/local.conf" > "$r/etc/dnf/plugins/show-leaves.conf"
    fi
  else
    printf 'deb [trusted=yes] http://%s:%s/ ./\n' "$LAB_BRIDGE_IP" "$LAB_HTTP_PORT" > "$r/etc/apt/sources.list.d/st2.list"
  fi

  # Network: eth0 in the host's namespace, the other end on the bridge. No default route. Never an
  # address something else holds (a dead host's netns, another lab on this bridge): the two would
  # share IP and MAC, and connections would land on either.
  if lab_net_addresses | grep -qxF "$addr" || lab_addr_answers "$addr"; then
    lab_log "$name: $addr is held by something else on this machine or bridge ($(lab_addr_holder "$addr")): not starting a second host there"
    return 1
  fi
  ip netns add "$ns"
  # eth0's MAC follows from the address (02:00:a:b:c:d), so neighbour caches stay right across restarts
  local o1 o2 o3 o4
  IFS=. read -r o1 o2 o3 o4 <<<"$addr"
  ip link add "$veth" type veth peer name eth0 \
    address "$(printf '02:00:%02x:%02x:%02x:%02x' "$o1" "$o2" "$o3" "$o4")" netns "$ns"
  ip link set "$veth" master "$LAB_BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  # A previous host with this address had another MAC: without this, the machine keeps sending to
  # the old one until its neighbour entry times out (up to a minute).
  ip neigh flush to "$addr" dev "$LAB_BRIDGE" 2>/dev/null || true
  step netns

  setsid ip netns exec "$ns" \
    unshare --mount --uts --ipc --pid --fork --propagation private \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    bash "$LAB_LIB/host-init.sh" "$name" "$r" >>"$d/sshd.log" 2>&1 </dev/null 8>&- 9>&- &
  pid=$!
  echo "$pid" > "$d/unshare.pid"
  step started
  deadline=$((SECONDS + 30))
  # Up = the sshd answering at the address presents this host's own key (not merely a TCP connect:
  # whatever else answers there would pass that).
  key=$(cut -d' ' -f2 "$r/etc/ssh/ssh_host_ed25519_key.pub")
  until timeout 1 bash -c "exec 3<>/dev/tcp/$addr/22" 2>/dev/null && lab_sshd_key_is "$addr" "$key"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      lab_log "$name: host exited during start; its log:"
      tail -20 "$d/sshd.log" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      lab_log "$name: no sshd with this host's key answered at $addr within 30 s (the key there: $(ssh-keyscan -T 2 -t ed25519 "$addr" 2>/dev/null | awk '{ print $3 }' | grep . || echo none)); its log:"
      tail -20 "$d/sshd.log" >&2
      return 1
    fi
    sleep 0.02
  done
  step sshd
  lab_since "$t0" > "$d/start-seconds"
  lab_log "$name: up at $addr in $(cat "$d/start-seconds") s"
}

# lab_host_record NAME VERSION: writes hosts/NAME/host.json (VERSION may be empty: null).
lab_host_record() {
  local name=$1 version=$2 d v
  d=$(lab_host_dir "$name")
  if [ -n "$version" ]; then v=$(lab_json_str "$version"); else v=null; fi
  {
    printf '{\n'
    printf '  "name": %s,\n' "$(lab_json_str "$name")"
    printf '  "address": %s,\n' "$(lab_json_str "$(cat "$d/address")")"
    printf '  "port": 22,\n'
    printf '  "user": %s,\n' "$(lab_json_str "$LAB_USER")"
    printf '  "privateKeyPath": %s,\n' "$(lab_json_str "$LAB_KEY")"
    printf '  "version": %s,\n' "$v"
    printf '  "os": %s,\n' "$(if [ -s "$d/os" ]; then lab_json_str "$(cat "$d/os")"; else echo null; fi)"
    printf '  "netns": %s,\n' "$(lab_json_str "$(lab_netns "$name")")"
    printf '  "root": %s,\n' "$(lab_json_str "$d/root")"
    printf '  "sshdLog": %s,\n' "$(lab_json_str "$d/sshd.log")"
    printf '  "startSeconds": %s\n' "$(cat "$d/start-seconds" 2>/dev/null || echo null)"
    printf '}\n'
  } > "$d/host.json.tmp"
  mv "$d/host.json.tmp" "$d/host.json"
}

# lab_ssh NAME CMD...: runs CMD on the host as st2admin with the lab key (LAB_SSH_TTY=1: with a tty).
lab_ssh() {
  local name=$1 addr
  shift
  addr=$(cat "$(lab_host_dir "$name")/address" 2>/dev/null) || lab_die "no lab host '$name' (is the lab up?)"
  # -F /dev/null: no SendEnv LANG LC_* from the machine's ssh_config (only C.UTF-8 exists in hosts).
  env -u LANG -u LC_ALL -u LANGUAGE ssh -F /dev/null -i "$LAB_KEY" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes \
    -o ConnectTimeout=10 -o IdentitiesOnly=yes ${LAB_SSH_TTY:+-t} \
    "$LAB_USER@$addr" "$@"
}

# lab_os_known KEY: true when lab/lib/os.tsv has KEY (e.g. ubuntu:18.04).
lab_os_known() {
  awk -F'\t' -v k="$1" '!/^#/ && $1 == k { found = 1 } END { exit !found }' "$LAB_LIB/os.tsv"
}

# lab_os_is_el KEY: true when OS KEY is of the RHEL family (os.tsv's ID_LIKE names rhel).
lab_os_is_el() {
  awk -F'\t' -v k="$1" '!/^#/ && $1 == k && (" " $7 " ") ~ / rhel / { found = 1 } END { exit !found }' "$LAB_LIB/os.tsv"
}

# lab_os_el_major KEY: the EL major of OS KEY (rocky:8 -> 8), dnf's releasever.
lab_os_el_major() {
  awk -F'\t' -v k="$1" '!/^#/ && $1 == k { split($3, v, "."); print v[1] }' "$LAB_LIB/os.tsv"
}

# lab_yum_repo_file MAJOR: the dnf repository file of the double's rpms for EL MAJOR, served by the
# lab's HTTP server (lab/double/build-rpm-repo.sh builds $LAB_DIR/repo/el<MAJOR>/). Like StackStorm's
# own (st2-packages scripts/st2bootstrap-el8.sh repo_definition: baseurl per EL major, gpgcheck=0),
# without the repository signature the lab cannot make.
lab_yum_repo_file() {
  printf '[st2-lab]\nname=StackStorm test double (st2-upgrade lab), EL %s\nbaseurl=http://%s:%s/el%s/\nenabled=1\ngpgcheck=0\nrepo_gpgcheck=0\nmetadata_expire=300\ntype=rpm-md\n' \
    "$1" "$LAB_BRIDGE_IP" "$LAB_HTTP_PORT" "$1"
}

# lab_os_default VERSION: the OS lab/double/os-defaults.tsv gives the double at VERSION (or nothing).
lab_os_default() {
  awk -F'\t' -v v="$1" '!/^#/ && $1 == v { print $2 }' "$LAB_REPO_ROOT/lab/double/os-defaults.tsv"
}

# lab_os_claim ROOT KEY: makes the host at ROOT claim OS KEY (/etc/os-release, Ubuntu's lsb-release).
lab_os_claim() {
  local root=$1 key=$2 id version_id version codename pretty like
  IFS=$'\t' read -r _ id version_id version codename pretty like < <(awk -F'\t' -v k="$key" '!/^#/ && $1 == k' "$LAB_LIB/os.tsv")
  [ -n "$id" ] || lab_die "unknown OS '$key' (lab/lib/os.tsv)"
  # Debian's /etc/os-release is a symlink into /usr/lib: replace both, as a distribution ships them
  rm -f "$root/etc/os-release"
  {
    printf 'NAME="%s"\n' "$(if [ "$id" = ubuntu ]; then echo Ubuntu; else echo "Rocky Linux"; fi)"
    printf 'VERSION="%s"\nID=%s\nID_LIKE="%s"\nPRETTY_NAME="%s"\nVERSION_ID="%s"\n' "$version" "$id" "$like" "$pretty" "$version_id"
    if [ "$codename" != - ]; then printf 'VERSION_CODENAME=%s\nUBUNTU_CODENAME=%s\n' "$codename" "$codename"; fi
  } > "$root/usr/lib/os-release"
  cp "$root/usr/lib/os-release" "$root/etc/os-release"
  if [ "$id" = ubuntu ]; then
    printf 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=%s\nDISTRIB_CODENAME=%s\nDISTRIB_DESCRIPTION="%s"\n' "$version_id" "$codename" "$pretty" > "$root/etc/lsb-release"
  fi
}
