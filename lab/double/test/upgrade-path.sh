#!/bin/bash
# Reference run of the runbook against the double: upgrades a seeded host through
# the given versions the CORRECT way, then checks nothing was lost.
# usage (as root on a host):  ssh HOST 'sudo env HOPS="2.2.0 3.0.1 3.9.0" bash -s' < upgrade-path.sh
# Per hop: st2ctl stop (+ leftover check), apt --only-upgrade of the installed packages pinned
# to the repository's revisions (--force-confold), Mistral upgrade head + populate (< 3.3),
# the migration scripts of every version crossed, the old notifier queue deleted when crossing
# 2.3 (if RabbitMQ's tools are there), st2.conf sections new services need, reload (recreating
# virtualenvs when crossing 3.4), start, smoke execution, no queue filling up without consumers.
# Prints the inventory digest comparison; exits 1 on any loss.
set -euo pipefail
HOPS=${HOPS:?set HOPS to the versions to go through, e.g. "2.2.0 3.0.1"}
export LC_ALL=C.UTF-8 LANG=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive
cd /
say() { echo "== $*" >&2; }
cur() { v=$(dpkg-query -W -f='${Version}' st2); echo "${v%-*}"; }
lt() { dpkg --compare-versions "$1" lt "$2"; }
installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]; }
snapshot() {
    python3 - <<'EOF'
import json, os
db = '/var/lib/st2-double/db'
kv = json.load(open(os.path.join(db, 'kv.json')))
print(json.dumps({'keys': sorted((('user' if d.get('scope') in ('user', 'st2kv.user') else 'system'),
                                  d.get('user') or '', d['name']) for d in kv),
                  'secrets': sorted(d['name'] for d in kv if d.get('secret')),
                  'packs': sorted(p.get('ref', p['name']) for p in json.load(open(os.path.join(db, 'packs.json')))),
                  'executions': len(json.load(open(os.path.join(db, 'executions.json'))))}))
EOF
}
apt-get update -qq
BEFORE=$(snapshot)
for V in $HOPS; do
    FROM=$(cur)
    say "upgrade $FROM -> $V"
    st2ctl stop >/dev/null
    if st2ctl status | grep -q 'PID:'; then st2ctl status >&2; echo "leftover processes" >&2; exit 1; fi
    pins=()
    for p in st2 st2web st2chatops st2mistral bwc-enterprise; do
        installed "$p" || continue
        rev=$(apt-cache madison "$p" | awk -v v="$V" '$3 ~ "^"v"-" {print $3; exit}')
        [[ -n $rev ]] && pins+=("$p=$rev")
    done
    say "apt: ${pins[*]}"
    apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        --only-upgrade "${pins[@]}" </dev/null >/dev/null
    if installed st2mistral && lt "$V" 3.3; then
        M=/opt/stackstorm/mistral/bin/mistral-db-manage
        $M --config-file /etc/mistral/mistral.conf upgrade head >/dev/null 2>&1
        $M --config-file /etc/mistral/mistral.conf populate >/dev/null 2>&1
        say "mistral at $($M --config-file /etc/mistral/mistral.conf current 2>/dev/null | tail -1)"
    fi
    B=/opt/stackstorm/st2/bin
    if lt "$FROM" 1.5 && ! lt "$V" 1.5; then $B/st2-migrate-datastore-to-include-scope-secret.py --config-file /etc/st2/st2.conf; fi
    if lt "$FROM" 2.1 && ! lt "$V" 2.1; then
        $B/st2-migrate-datastore-scopes.py --config-file /etc/st2/st2.conf
        $B/st2-migrate-runners.sh >/dev/null
    fi
    # 2.3: the notifier moved to st2.notifiers.execution.work; the old queue must go (after
    # the upgrade, with the old notifier stopped), else it grows forever (st2 #3622).
    if lt "$FROM" 2.3 && ! lt "$V" 2.3; then
        if command -v rabbitmqadmin >/dev/null; then
            rabbitmqadmin delete queue name=st2.notifiers.work >&2 || true
        elif command -v rabbitmqctl >/dev/null; then
            rabbitmqctl delete_queue st2.notifiers.work >&2 || true
        fi
    fi
    for s in workflow_engine:workflowengine:2.8 timersengine:timersengine:2.9 scheduler:scheduler:2.10; do
        IFS=: read -r sec name since <<<"$s"
        if ! lt "$V" "$since" && ! grep -q "^\[$sec\]" /etc/st2/st2.conf; then
            printf '\n[%s]\nlogging = /etc/st2/logging.%s.conf\n' "$sec" "$name" >>/etc/st2/st2.conf
        fi
    done
    st2ctl reload --register-all >/dev/null
    if lt "$FROM" 3.4 && ! lt "$V" 3.4; then st2ctl reload --register-recreate-virtualenvs >/dev/null; fi
    st2ctl start >/dev/null
    st2 run core.local -- date -R >/dev/null
    st2 run lab_ops.pyhello >/dev/null
    st2ctl status | grep -q 'is not running' && { st2ctl status >&2; echo "services down" >&2; exit 1; }
    if command -v rabbitmqctl >/dev/null; then
        sleep 0.5   # let the consumers take the updates of the smoke executions
        orphans=$(rabbitmqctl list_queues -s name messages consumers | awk -F'\t' '$2 > 0 && $3 == 0 {print $1}')
        [[ -z $orphans ]] || { rabbitmqctl list_queues name messages consumers >&2; echo "queues without consumers fill up: $orphans" >&2; exit 1; }
    fi
    all=(--scope all)
    lt "$V" 2.4 || all+=(-n -1)
    say "now $(st2 --version 2>&1); keys visible: $(st2 key list -j "${all[@]}" 2>/dev/null | grep -c '"name"' || true)"
done
AFTER=$(snapshot)
python3 - "$BEFORE" "$AFTER" <<'EOF'
import json, sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ok = b['keys'] == a['keys'] and b['secrets'] == a['secrets'] and set(b['packs']) <= set(a['packs']) \
    and a['executions'] >= b['executions']
print(json.dumps({'ok': ok, 'keys': [len(b['keys']), len(a['keys'])],
                  'secrets': [len(b['secrets']), len(a['secrets'])],
                  'packs': [b['packs'], a['packs']], 'executions': [b['executions'], a['executions']]}))
sys.exit(0 if ok else 1)
EOF
