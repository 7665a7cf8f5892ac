#!/bin/bash
# Seed a host that has the StackStorm double installed with realistic state.
# usage (as root, on the host):   ssh HOST 'sudo env SEED_KEYS=60 bash -s' < lab/double/seed.sh
#   SEED_KEYS      datastore keys to create (default 60: more than the CLI's 50-key page)
#   SEED_USER / SEED_PASSWORD   the st2 user written to /etc/st2/htpasswd and root's ~/.st2/config
#   SEED_EDIT_CONF=1   make a local edit to /etc/st2/st2.conf like every real install does
#                      (so dpkg treats the conffile as modified on upgrades); 0 to skip
# Starts the services, creates keys (plain, secret, user-scoped, in the installed
# version's format), installs two packs from local git repos, runs executions,
# brings the Mistral DB to this st2mistral's head and inserts rows, and prints a
# JSON summary.  Everything goes through the double's own commands (st2, st2ctl,
# mistral-db-manage) except the Mistral rows (psql, as the lab notes do).
set -euo pipefail

SEED_KEYS=${SEED_KEYS:-60}
SEED_USER=${SEED_USER:-st2admin}
SEED_PASSWORD=${SEED_PASSWORD:-Ch@ngeMe}
SEED_EDIT_CONF=${SEED_EDIT_CONF:-1}
export LC_ALL=C.UTF-8 LANG=C.UTF-8 HOME=/root
cd /

die() { echo "seed: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root"
if command -v rpm >/dev/null && rpm -q st2 >/dev/null 2>&1; then
    # A RHEL-family lab host: the double came as rpms (lab/double/build-rpm-repo.sh).
    installed() { rpm -q "$1" >/dev/null 2>&1; }
    FULL=$(rpm -q --qf '%{VERSION}-%{RELEASE}' st2)
    ge() { [[ $(printf '%s\n%s\n' "$1" "${FULL%-*}" | sort -V | head -n 1) == "$1" ]]; }
else
    installed() { [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]; }
    installed st2 || die "st2 is not installed"
    FULL=$(dpkg-query -W -f='${Version}' st2)
    ge() { dpkg --compare-versions "$VERSION" ge "$1"; }
fi
VERSION=${FULL%-*}
log() { echo "seed: $*" >&2; }

# --- credentials ---------------------------------------------------------------
python3 - "$SEED_USER" "$SEED_PASSWORD" <<'EOF'
import base64, hashlib, os, sys
user, pw = sys.argv[1], sys.argv[2]
path = '/etc/st2/htpasswd'
lines = [l for l in open(path).read().splitlines() if not l.startswith(user + ':')] \
    if os.path.exists(path) else []
lines.append('%s:{SHA}%s' % (user, base64.b64encode(hashlib.sha1(pw.encode()).digest()).decode()))
with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')
os.chmod(path, 0o640)
EOF
install -d -m 700 /root/.st2
printf '[credentials]\nusername = %s\npassword = %s\n' "$SEED_USER" "$SEED_PASSWORD" >/root/.st2/config
chmod 600 /root/.st2/config

if [[ $SEED_EDIT_CONF == 1 ]] && ! grep -q '^allow_origin' /etc/st2/st2.conf; then
    sed -i '0,/^\[api\]$/s//[api]\n# local edit (seed): like st2bootstrap, every real install edits st2.conf\nallow_origin = */' /etc/st2/st2.conf
fi

# --- Mistral database first (the documented order), then services ------------------
MISTRAL_ROWS=0
MISTRAL_TABLE=""
if installed st2mistral && ! ge 3.3; then
    grep -Eq '^connection *= *postgresql' /etc/mistral/mistral.conf ||
        die "/etc/mistral/mistral.conf does not point at PostgreSQL (the lab writes it)"
    if ! pg_lsclusters -h 2>/dev/null | grep -q online; then service postgresql start >/dev/null; fi
    psql_() { su postgres -c "psql -qtA -v ON_ERROR_STOP=1 $*"; }
    psql_ "-c \"SELECT 1 FROM pg_roles WHERE rolname='mistral'\"" | grep -q 1 ||
        psql_ "-c \"CREATE ROLE mistral LOGIN PASSWORD 'StackStorm'\""
    psql_ "-c \"SELECT 1 FROM pg_database WHERE datname='mistral'\"" | grep -q 1 ||
        psql_ "-c \"CREATE DATABASE mistral OWNER mistral\""
    /etc/init.d/mistral-api stop >/dev/null
    /etc/init.d/mistral stop >/dev/null
    M=/opt/stackstorm/mistral/bin/mistral-db-manage
    $M --config-file /etc/mistral/mistral.conf upgrade head >/var/log/st2-double/seed-mistral.log 2>&1 ||
        die "mistral-db-manage upgrade head failed (see /var/log/st2-double/seed-mistral.log)"
    $M --config-file /etc/mistral/mistral.conf populate >>/var/log/st2-double/seed-mistral.log 2>&1 ||
        die "mistral-db-manage populate failed (see /var/log/st2-double/seed-mistral.log)"
    MISTRAL_TABLE=$(psql_ "-d mistral -c \"SELECT CASE WHEN to_regclass('workflow_executions_v2') IS NOT NULL THEN 'workflow_executions_v2' ELSE 'executions_v2' END\"")
    for i in 1 2; do
        id=$(python3 -c 'import uuid; print(uuid.uuid4())')
        if [[ $MISTRAL_TABLE == executions_v2 ]]; then
            cols="id, type, name, workflow_name, state, created_at"
            vals="'$id', 'workflow_execution', 'seed.wf$i', 'seed.wf$i', 'SUCCESS', now()"
        else
            cols="id, name, workflow_name, state, created_at"
            vals="'$id', 'seed.wf$i', 'seed.wf$i', 'SUCCESS', now()"
        fi
        psql_ "-d mistral -c \"INSERT INTO $MISTRAL_TABLE ($cols) VALUES ($vals)\""
    done
    MISTRAL_ROWS=$(psql_ "-d mistral -c \"SELECT count(*) FROM $MISTRAL_TABLE\"")
fi

st2ctl start >/dev/null
st2ctl reload --register-all >/dev/null

# --- datastore ---------------------------------------------------------------------
plain=0 secret=0 user=0
for ((i = 1; i <= SEED_KEYS; i++)); do
    name=$(printf 'seed_key_%03d' "$i")
    if ge 1.5 && ((i % 10 == 0)); then
        st2 key set "$name" "user-value-$i" --scope user >/dev/null
        user=$((user + 1))
    elif ge 1.5 && ((i % 5 == 0)); then
        st2 key set "$name" "secret-value-$i" --encrypt >/dev/null
        secret=$((secret + 1))
    else
        st2 key set "$name" "value-$i" >/dev/null
        plain=$((plain + 1))
    fi
done

# --- packs from local git repositories -----------------------------------------------
make_pack_repo() {
    local pack=$1 repo=/srv/git/$1.git work
    [[ -d $repo ]] && return 0
    work=$(mktemp -d)
    mkdir -p "$work/actions"
    printf -- '---\nref: %s\nname: %s\ndescription: Lab pack %s\nversion: 1.0.0\nauthor: lab\nemail: lab@st2-upgrade.invalid\n' \
        "$pack" "$pack" "$pack" >"$work/pack.yaml"
    printf -- '---\nname: hello\nrunner_type: local-shell-script\ndescription: "Say hello"\nenabled: true\nentry_point: "hello.sh"\n' \
        >"$work/actions/hello.yaml"
    printf '#!/bin/bash\necho "hello from %s"\n' "$pack" >"$work/actions/hello.sh"
    printf -- '---\nname: pyhello\nrunner_type: python-script\ndescription: "Say hello in Python"\nenabled: true\nentry_point: "pyhello.py"\n' \
        >"$work/actions/pyhello.yaml"
    printf 'print("pyhello from %s")\n' "$pack" >"$work/actions/pyhello.py"
    git -C "$work" init -q
    git -C "$work" add -A
    git -C "$work" -c user.name=lab -c user.email=lab@st2-upgrade.invalid commit -qm "pack $pack"
    mkdir -p /srv/git
    git clone -q --bare "$work" "$repo"
    rm -rf "$work"
}
PACKS=(lab_web lab_ops)
for p in "${PACKS[@]}"; do
    make_pack_repo "$p"
    if ge 2.1; then
        st2 pack install "file:///srv/git/$p.git" >/dev/null
    else
        st2 run packs.install "packs=$p" "repo_url=file:///srv/git/$p.git" >/dev/null
    fi
done

# --- executions ----------------------------------------------------------------------
st2 run core.local -- date -R >/dev/null
st2 run core.local cmd=hostname >/dev/null
st2 run lab_web.hello >/dev/null
st2 run lab_ops.pyhello >/dev/null

# --- summary -------------------------------------------------------------------------
python3 - "$VERSION" "$plain" "$secret" "$user" "$MISTRAL_TABLE" "$MISTRAL_ROWS" "${PACKS[@]}" <<'EOF'
import json, os, sys
version, plain, secret, user, mtable, mrows = sys.argv[1:7]
packs = sys.argv[7:]
db = '/var/lib/st2-double/db'
def load(n):
    try:
        return json.load(open(os.path.join(db, n + '.json')))
    except FileNotFoundError:
        return []
print(json.dumps({
    'st2_version': version,
    'keys_created': {'plain': int(plain), 'secret': int(secret), 'user_scoped': int(user)},
    'kv_documents': len(load('kv')),
    'packs_installed': packs,
    'packs_registered': sorted(p.get('ref', p['name']) for p in load('packs')),
    'executions': len(load('executions')),
    'executions_succeeded': sum(1 for e in load('executions') if e['status'] == 'succeeded'),
    'mistral': {'table': mtable, 'rows': int(mrows)} if mtable else None,
    'audit_logs': sorted(f for f in os.listdir('/var/log/st2') if f.endswith('.audit.log')),
}, indent=2, sort_keys=True))
EOF
