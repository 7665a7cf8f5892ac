#!/bin/bash
# Runs a command on a lab host as st2admin with the lab key (no host key checks, no LANG forwarded).
# usage: ssh.sh NAME [CMD...]      (no CMD: an interactive shell)
set -euo pipefail
# shellcheck source=lab/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=lab/lib/host.sh
. "$LAB_LIB/host.sh"
[ $# -ge 1 ] || lab_die "usage: ssh.sh NAME [CMD...]"
NAME=$1
shift
lab_valid_name "$NAME"
if [ $# -eq 0 ]; then export LAB_SSH_TTY=1; fi
lab_ssh "$NAME" "$@"
