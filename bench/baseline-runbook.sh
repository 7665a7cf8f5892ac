#!/usr/bin/env bash
# The bench's baseline: StackStorm's upgrade runbook (docs.stackstorm.com install/upgrades.html and
# the upgrade notes of every version crossed) as a plain serial bash script over SSH, host after host.
#
# usage: bench/baseline-runbook.sh TARGET KEY_FILE NAME=USER@ADDRESS...
#   e.g. bench/baseline-runbook.sh 3.9.0 .lab/keys/id_ed25519 h1=st2admin@10.200.0.11 h2=...
#
# Per host, in one SSH session, as root:
#   apt-get update, then resolve each installed StackStorm package's own revision of TARGET with
#   `apt-cache madison` (st2=3.9.0-1, st2web=3.9.0-3, ...)       <- before the outage: not counted
#   sudo st2ctl stop; service mistral-api/mistral stop             <- OUTAGE starts before this
#   apt-get install --only-upgrade PKG=REV... (--force-confold)    <- downloads happen HERE
#   Mistral: mistral-db-manage upgrade head + populate (when st2mistral was upgraded)
#   migration scripts of every version crossed (1.5, 2.1, 2.3, 2.8/2.9/2.10, 3.9) and the reload
#   st2ctl reload --register-all (+ --register-recreate-virtualenvs when crossing 3.4)
#   sudo st2ctl start                                              <- OUTAGE ends after this
# One jump only (no stepping stones): refuses paths that need one (from < 2.1 to 3.1+).
#
# Output (stdout), one line per event, times in epoch seconds taken on the host (lab hosts share
# the machine's clock):
#   BASELINE NAME begin T | outage-start T | outage-end T | end T | version VERSION-LINE
# The package manager's output goes to stderr. Exits non-zero on the first host that fails.
set -euo pipefail

on_host() {
    local target=$1 name=$2 from p rev crossing_34=0 mistral_upgraded=0 B=/opt/stackstorm/st2/bin
    local -a pins=() reload=(--register-all)
    export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 LANG=C.UTF-8 HOME=/root
    cd /
    stamp() { printf 'BASELINE %s %s %s\n' "$name" "$1" "$(date +%s.%N)"; }
    lt() { dpkg --compare-versions "$1" lt "$2"; }
    crosses() { lt "$from" "$1" && ! lt "$target" "$1"; }
    installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]; }
    stamp begin

    from=$(dpkg-query -W -f='${Version}' st2)
    from=${from%-*}
    if lt "$from" 2.1 && ! lt "$target" 3.1; then
        echo "baseline: $from -> $target needs a stepping stone (3.1+ no longer ship the 1.5/2.1 scripts)" >&2
        exit 1
    fi
    apt-get update -q >&2
    for p in st2 st2web st2chatops st2mistral bwc-enterprise; do
        installed "$p" || continue
        rev=$(apt-cache madison "$p" | awk -F'|' -v v="$target" '{ gsub(/ /, "", $2); if (index($2, v "-") == 1) print $2 }' | sort -V | tail -n 1)
        if [[ -n $rev ]]; then pins+=("$p=$rev"); fi
        if [[ $p == st2mistral && -n $rev ]]; then mistral_upgraded=1; fi
    done
    [[ ${#pins[@]} -gt 0 ]] || { echo "baseline: no StackStorm package of $target in the repositories" >&2; exit 1; }

    stamp outage-start
    st2ctl stop >&2
    for svc in mistral-api mistral; do
        if [[ -e /etc/init.d/$svc ]]; then service "$svc" stop >&2 || true; fi
    done
    apt-get install -y -q --only-upgrade -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${pins[@]}" </dev/null >&2

    if ((mistral_upgraded)); then
        local M=/opt/stackstorm/mistral/bin/mistral-db-manage C=/etc/mistral/mistral.conf
        "$M" --config-file "$C" upgrade head >&2
        "$M" --config-file "$C" populate >&2
    fi
    if crosses 1.5; then "$B/st2-migrate-datastore-to-include-scope-secret.py" --config-file /etc/st2/st2.conf >&2; fi
    if crosses 2.1; then
        "$B/st2-migrate-datastore-scopes.py" --config-file /etc/st2/st2.conf >&2
        "$B/st2-migrate-runners.sh" >&2
    fi
    if crosses 2.3; then
        if command -v rabbitmqadmin >/dev/null; then
            rabbitmqadmin delete queue name=st2.notifiers.work >&2 || true
        elif command -v rabbitmqctl >/dev/null; then
            rabbitmqctl delete_queue st2.notifiers.work >&2 || true
        fi
    fi
    local s sec logname since
    for s in workflow_engine:workflowengine:2.8 timersengine:timersengine:2.9 scheduler:scheduler:2.10; do
        IFS=: read -r sec logname since <<<"$s"
        if crosses "$since" && ! grep -q "^\[$sec\]" /etc/st2/st2.conf; then
            printf '\n[%s]\nlogging = /etc/st2/logging.%s.conf\n' "$sec" "$logname" >>/etc/st2/st2.conf
        fi
    done
    if crosses 3.4; then crossing_34=1; fi
    if crosses 3.9; then
        # [database] ssl -> tls, ssl_ca_certs -> tls_ca_file (3.9 ignores the old names).
        sed -i -E '/^\[database\]/,/^\[/ { s/^([[:space:]]*)ssl([[:space:]]*=)/\1tls\2/; s/^([[:space:]]*)ssl_ca_certs([[:space:]]*=)/\1tls_ca_file\2/ }' /etc/st2/st2.conf
    fi
    if ((crossing_34)); then reload+=(--register-recreate-virtualenvs); fi
    st2ctl reload "${reload[@]}" >&2
    st2ctl start >&2
    stamp outage-end
    printf 'BASELINE %s version %s\n' "$name" "$(st2 --version 2>&1 | head -n 1)"
    stamp end
}

if [[ ${1:-} == --on-host ]]; then
    on_host "${2:?target}" "${3:?name}"
    exit 0
fi

TARGET=${1:?usage: baseline-runbook.sh TARGET KEY_FILE NAME=USER@ADDRESS...}
KEY=${2:?usage: baseline-runbook.sh TARGET KEY_FILE NAME=USER@ADDRESS...}
shift 2
[[ $# -gt 0 ]] || { echo "usage: baseline-runbook.sh TARGET KEY_FILE NAME=USER@ADDRESS..." >&2; exit 2; }
# The script travels as an argument (base64: safe in any login shell), not on stdin: apt and psql
# would read the rest of a script fed through `bash -s`.
[[ $TARGET =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "baseline: TARGET must look like 3.9.0, got $TARGET" >&2; exit 2; }
SELF=$(base64 -w0 "${BASH_SOURCE[0]}")
for spec in "$@"; do
    name=${spec%%=*}
    dest=${spec#*=}
    [[ $name =~ ^[A-Za-z0-9_.-]+$ && $dest =~ ^[A-Za-z0-9_.-]+@[0-9A-Za-z.:-]+$ ]] || { echo "baseline: bad host spec $spec (NAME=USER@ADDRESS)" >&2; exit 2; }
    ssh -F /dev/null -i "$KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 "$dest" \
        "sudo -n bash -c \"\$(printf %s $SELF | base64 -d)\" baseline-runbook --on-host $TARGET $name" </dev/null
done
