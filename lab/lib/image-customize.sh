#!/bin/bash
# mmdebstrap --customize-hook for the lab host image: runs OUTSIDE the image, $1 = the image root.
# Part of the image recipe: changing this file changes the image hash (lab/bin/image.sh rebuilds).
set -euo pipefail
R=$1
in_root() { chroot "$R" "$@"; }

# The account the upgrade program logs in with: passwordless sudo, like a prepared StackStorm host.
in_root useradd -m -s /bin/bash -u 1000 -U st2admin
printf 'st2admin ALL=(ALL) NOPASSWD:ALL\n' > "$R/etc/sudoers.d/st2admin"
chmod 440 "$R/etc/sudoers.d/st2admin"
install -d -m 700 -o 1000 -g 1000 "$R/home/st2admin/.ssh"

# sshd: no environment from clients (only C.UTF-8 exists here), log every login (sshd runs with -D -e,
# its stderr is the host's sshd.log), room for the parallel connections a Pulumi run opens.
sed -i 's/^AcceptEnv/#AcceptEnv/' "$R/etc/ssh/sshd_config"
cat > "$R/etc/ssh/sshd_config.d/lab.conf" <<'CONF'
LogLevel INFO
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 64:30:128
MaxSessions 64
CONF
# Every host gets its own host keys when it starts.
rm -f "$R"/etc/ssh/ssh_host_*

: > "$R/etc/resolv.conf"
echo st2host > "$R/etc/hostname"

# apt inside hosts sees only the lab's StackStorm repository (the Debian mirror is unreachable).
rm -f "$R/etc/apt/sources.list" "$R"/etc/apt/sources.list.d/*
echo 'deb [trusted=yes] http://10.200.0.1:8080/ ./' > "$R/etc/apt/sources.list.d/st2.list"

# PostgreSQL 15: a UTF-8 cluster on port 5432 (pg_createcluster would skip a port taken on the
# build machine), with Mistral's role and database, as a StackStorm 2.x host has.
install -d -o "$(in_root id -u postgres)" -g "$(in_root id -g postgres)" -m 2775 "$R/run/postgresql"
in_root pg_dropcluster 15 main 2>/dev/null || true
in_root env LC_ALL=C.UTF-8 pg_createcluster --locale=C.UTF-8 --port=5432 15 main >/dev/null
in_root su postgres -s /bin/sh -c \
  "/usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/15/main -s -w \
   -o \"-c config_file=/etc/postgresql/15/main/postgresql.conf -c listen_addresses='' -c dynamic_shared_memory_type=mmap\" start"
in_root su postgres -s /bin/sh -c "psql -q -v ON_ERROR_STOP=1 -c \"CREATE ROLE mistral LOGIN PASSWORD 'StackStorm';\" -c 'CREATE DATABASE mistral OWNER mistral;'"
in_root su postgres -s /bin/sh -c "/usr/lib/postgresql/15/bin/pg_ctl -D /var/lib/postgresql/15/main -s -w -m fast stop"
rm -rf "$R/run/postgresql"

install -d -m 755 "$R/etc/mistral"
cat > "$R/etc/mistral/mistral.conf" <<'CONF'
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:5672/
[database]
connection = postgresql://mistral:StackStorm@127.0.0.1/mistral
max_pool_size = 5
CONF
