#!/usr/bin/env bash
# Debian packages the tests and the lab need on the machine running them (a fresh machine has
# none of what a developer installed by hand): shellcheck checks every generated script, OpenSSH
# serves the engine tests' throwaway sshd and talks to lab hosts, the lab builds its image with
# mmdebstrap. Installs only what is missing; needs root for that (CI and the lab run as root).
set -euo pipefail

declare -A need=(
  [shellcheck]=shellcheck
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  [sshd]=openssh-server
  [mmdebstrap]=mmdebstrap
  [zstd]=zstd
  [dpkg-scanpackages]=dpkg-dev
  [ip]=iproute2
  [flock]=util-linux
)
missing=()
for cmd in "${!need[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then missing+=("${need[$cmd]}"); fi
done
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}"
apt-get update -qq
# The engine tests start their own sshd: keep the package's service from starting (no systemd here).
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
