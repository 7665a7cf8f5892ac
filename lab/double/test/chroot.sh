#!/bin/bash
# Throw-away test hosts for the double before the real lab exists: an overlay of a
# Debian bookworm rootfs, its own PID + mount namespace (so `ps` and st2ctl see
# only that host), its own network namespace (loopback only), an apt source pointing at the double's repo, PostgreSQL + the
# `mistral` database.
#   test/chroot.sh base                 build the rootfs ($DBL/base) with mmdebstrap if missing
#   test/chroot.sh up NAME REPO_DIR     start host NAME ($DBL/hosts/NAME)
#   test/chroot.sh run NAME CMD...      run CMD (bash -c) inside host NAME as root
#   test/chroot.sh down NAME            stop host NAME and remove its overlay
set -euo pipefail
DBL=${DBL:-/tmp/dbl}
BASE=$DBL/base

mirror() {
    grep -hoP '^(URIs:\s*|deb\s+(\[[^]]*\]\s+)?)\K\S+' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
        /etc/apt/sources.list.d/*.list 2>/dev/null | grep -m1 debian
}

cmd_base() {
    [[ -x $BASE/usr/bin/python3 ]] && return 0
    command -v mmdebstrap >/dev/null || apt-get install -y -qq mmdebstrap zstd >/dev/null
    mkdir -p "$DBL"
    mmdebstrap --variant=minbase --aptopt='APT::Install-Recommends "false"' \
        --include=python3,python3-psycopg2,postgresql,mistral-common,sudo,git,procps \
        bookworm "$DBL/base.tar" "deb $(mirror) bookworm main"
    mkdir -p "$BASE"
    tar --numeric-owner -C "$BASE" -xf "$DBL/base.tar"
    rm -f "$DBL/base.tar"
}

pid1() { cat "$DBL/hosts/$1.pid"; }

cmd_up() {
    local name=$1 repo=$2 r=$DBL/hosts/$1
    cmd_base
    mkdir -p "$r" "$r.upper" "$r.work"
    mountpoint -q "$r" || mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$r.upper,workdir=$r.work" "$r"
    mkdir -p "$r/srv/st2repo"
    mountpoint -q "$r/srv/st2repo" || mount --bind "$repo" "$r/srv/st2repo"
    echo 'deb [trusted=yes] file:/srv/st2repo ./' >"$r/etc/apt/sources.list.d/st2.list"
    rm -f "$r/etc/apt/sources.list" "$r/etc/apt/sources.list.d/debian.sources"
    printf '127.0.0.1\tlocalhost %s\n' "$name" >"$r/etc/hosts"
    # own network namespace: PostgreSQL on its usual port whatever the machine runs
    sed -i 's/^port = .*/port = 5432/' "$r"/etc/postgresql/15/main/postgresql.conf
    # PID 1 of the host: reaps orphans (daemonized services) like tini does.
    # shellcheck disable=SC2016  # the script runs inside the new namespaces, with $1 as argument
    setsid unshare --pid --fork --mount --net --propagation private bash -c '
        r=$1
        ip link set lo up
        mount -t proc proc "$r/proc"
        mount --rbind /dev "$r/dev"
        mount -t tmpfs tmpfs "$r/run"
        mkdir -p "$r/run/lock" "$r/run/postgresql"
        chroot "$r" chown postgres:postgres /run/postgresql
        exec chroot "$r" python3 -c "
import os, signal, time
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.5)
"' _ "$r" </dev/null >"$DBL/hosts/$name.log" 2>&1 &
    local u=$!
    local p=""
    for _ in $(seq 50); do
        p=$(pgrep -P "$u" || true)
        [[ -n $p ]] && p=$(pgrep -P "$p" || echo "$p")
        [[ -n $p && -e /proc/$p/root/srv/st2repo ]] && break
        sleep 0.1
    done
    echo "$u" >"$DBL/hosts/$name.unshare"
    # the chroot'ed python (PID 1 inside) is the unshare's child
    p=$(pgrep -P "$u")
    echo "$p" >"$DBL/hosts/$name.pid"
    cmd_run "$name" 'service postgresql start >/dev/null
        su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='"'"'mistral'"'"'\"" | grep -q 1 ||
          su postgres -c "psql -q -c \"CREATE ROLE mistral LOGIN PASSWORD '"'"'StackStorm'"'"'\""
        su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='"'"'mistral'"'"'\"" | grep -q 1 ||
          su postgres -c "psql -q -c \"CREATE DATABASE mistral OWNER mistral\""
        install -d /etc/mistral
        printf "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/\n[database]\nconnection = postgresql://mistral:StackStorm@127.0.0.1/mistral\nmax_pool_size = 5\n" >/etc/mistral/mistral.conf
        apt-get update -qq 2>&1 | grep -v "^W:" || true'
    echo "host $name up (pid1 $p)"
}

cmd_run() {
    local name=$1
    shift
    nsenter --target "$(pid1 "$name")" --pid --mount --net --root --wd \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive bash -c "cd / && $*"
}

cmd_down() {
    local name=$1 r=$DBL/hosts/$1
    if [[ -f $DBL/hosts/$name.unshare ]]; then
        kill -9 "$(pid1 "$name")" 2>/dev/null || true   # PID 1 gone: the kernel kills the namespace
        sleep 0.5
        rm -f "$DBL/hosts/$name.unshare" "$DBL/hosts/$name.pid"
    fi
    mountpoint -q "$r/srv/st2repo" && umount "$r/srv/st2repo"
    mountpoint -q "$r" && umount "$r"
    rm -rf "$r" "$r.upper" "$r.work"
}

case "${1:-}" in
base) cmd_base ;;
up) cmd_up "$2" "$3" ;;
run) n=$2; shift 2; cmd_run "$n" "$@" ;;
down) cmd_down "$2" ;;
*) sed -n '2,10p' "$0"; exit 2 ;;
esac
