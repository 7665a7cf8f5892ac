#!/bin/bash
# PID 1 of a lab host, before it becomes tini: runs in the host's own network namespace and in new
# mount, uts, ipc and pid namespaces (see lab/lib/host.sh). Mounts the host's kernel file systems,
# makes its overlay root the namespace's root (pivot_root: no other host's mounts stay visible),
# starts PostgreSQL 15 and execs tini running sshd in the foreground, logging to stderr (sshd.log).
# usage: host-init.sh NAME ROOT
set -euo pipefail
NAME=$1
R=$2

hostname "$NAME"
mount --make-rprivate /
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"
mount -t tmpfs -o mode=755,size=16m,nosuid tmpfs "$R/dev"
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 666 "$R/dev/zero" c 1 5
mknod -m 666 "$R/dev/full" c 1 7
mknod -m 666 "$R/dev/random" c 1 8
mknod -m 666 "$R/dev/urandom" c 1 9
mknod -m 666 "$R/dev/tty" c 5 0
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=755,size=64m,nosuid,nodev tmpfs "$R/run"
mount -t tmpfs -o mode=1777,size=512m,nosuid,nodev tmpfs "$R/tmp"
mkdir -p "$R/run/sshd" "$R/run/lock"
chmod 1777 "$R/run/lock"
pg_uid=$(awk -F: '$1 == "postgres" { print $3 }' "$R/etc/passwd")
pg_gid=$(awk -F: '$1 == "postgres" { print $4 }' "$R/etc/passwd")
install -d -o "$pg_uid" -g "$pg_gid" -m 2775 "$R/run/postgresql"

# The overlay root becomes "/", the machine's tree (and other hosts' mounts) is detached.
cd "$R"
pivot_root . .
umount -l .
cd /

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset LAB_DIR
# pg_ctl as pg_ctlcluster would run it (same config, log and pid file; `pg_ctlcluster`, `service
# postgresql` and pg_lsclusters work on it), without pg_ctlcluster's two seconds of start-up.
if ! runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/15/main -s -w \
    -l /var/log/postgresql/postgresql-15-main.log \
    -o '-c config_file=/etc/postgresql/15/main/postgresql.conf' start >/dev/null 2>&1; then
  echo "lab host-init: PostgreSQL 15 did not start (see /var/log/postgresql/postgresql-15-main.log)" >&2
fi
echo "lab host-init: $NAME ready, starting sshd" >&2
exec /usr/bin/tini -s -- /usr/sbin/sshd -D -e
