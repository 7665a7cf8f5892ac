#!/bin/bash
# Read-only inventory of a host running the StackStorm double, as JSON on stdout.
# usage (as root, on the host):   ssh HOST 'sudo bash -s' < lab/double/inventory.sh
# End-to-end tests take it before and after an upgrade to prove nothing was lost:
# package versions, the datastore (counts by scope and format, secret counts and
# names, a digest of the decrypted values: never the values), packs, executions,
# Mistral (alembic revision + rows per table), audit logs (size, lines, sha256), and the
# RabbitMQ fake's queues (name, ready messages).
# It reads the double's files directly (works with the services stopped) and
# changes nothing; it runs none of the double's commands (the command log stays as is).
set -euo pipefail
export LC_ALL=C.UTF-8 LANG=C.UTF-8
cd /
exec python3 - <<'EOF'
import glob, hashlib, hmac, json, os, subprocess

DB = '/var/lib/st2-double/db'


def load(name):
    try:
        with open(os.path.join(DB, name + '.json')) as f:
            return json.load(f)
    except FileNotFoundError:
        return []
    except ValueError as e:
        return {'error': 'unreadable %s.json: %s' % (name, e)}


def sh(*argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p.returncode, p.stdout


# A RHEL-family lab host has the double as rpms (lab/double/build-rpm-repo.sh).
RPM = sh('rpm', '-q', 'st2')[0] == 0 if os.path.exists('/usr/bin/rpm') else False


def packages():
    out = {}
    for pkg in ('st2', 'st2web', 'st2chatops', 'st2mistral', 'bwc-enterprise', 'st2enterprise',
                'rabbitmq-server'):
        if RPM:
            rc, s = sh('rpm', '-q', '--qf', '%{VERSION}-%{RELEASE}\n', pkg)
            out[pkg] = s.split('\n')[0] if rc == 0 and s else None
            continue
        rc, s = sh('dpkg-query', '-W', '-f=${Status}\t${Version}', pkg)
        if rc != 0 or not s or 'not-installed' in s or 'config-files' in s:
            out[pkg] = None
            continue
        status, version = s.split('\t')
        out[pkg] = version if status == 'install ok installed' else '%s (%s)' % (version, status)
    return out


def read_key():
    try:
        with open('/etc/st2/keys/datastore_key.json') as f:
            k = json.load(f)
        return bytes.fromhex(k['aesKeyString']), bytes.fromhex(k['hmacKey']['hmacKeyString'])
    except (OSError, ValueError, KeyError):
        return None


def decrypt(hexval, key):
    """Same scheme as st2double.common.decrypt (HMAC-SHA256 keystream XOR + tag)."""
    try:
        raw = bytes.fromhex(hexval)
    except (ValueError, TypeError):
        return None
    if key is None or len(raw) < 32:
        return None
    enc, mac = key
    nonce, ct, tag = raw[:16], raw[16:-16], raw[-16:]
    if not hmac.compare_digest(tag, hmac.new(mac, nonce + ct, hashlib.sha256).digest()[:16]):
        return None
    ks, ctr = b'', 0
    while len(ks) < len(ct):
        ks += hmac.new(enc, nonce + ctr.to_bytes(8, 'big'), hashlib.sha256).digest()
        ctr += 1
    try:
        return bytes(a ^ b for a, b in zip(ct, ks)).decode('utf-8')
    except UnicodeDecodeError:
        return None


def keys():
    docs = load('kv')
    if isinstance(docs, dict):
        return docs
    key = read_key()
    by_scope, formats, names = {}, {'no_scope(<=1.4)': 0, 'short_scope(1.5-2.0)': 0,
                                     'full_scope(2.1+)': 0}, {'system': [], 'user': []}
    secrets = {'total': 0, 'decryptable': 0, 'names': [], 'undecryptable': []}
    digest = {'system': hashlib.sha256(), 'user': hashlib.sha256()}
    rows = []
    for d in docs:
        scope = d.get('scope')
        by_scope[scope or '<none>'] = by_scope.get(scope or '<none>', 0) + 1
        if scope is None:
            formats['no_scope(<=1.4)'] += 1
        elif scope in ('system', 'user'):
            formats['short_scope(1.5-2.0)'] += 1
        else:
            formats['full_scope(2.1+)'] += 1
        logical = 'user' if scope in ('user', 'st2kv.user') else 'system'
        name = d['name'] if logical == 'system' else '%s:%s' % (d.get('user'), d['name'])
        value = d.get('value')
        if d.get('secret'):
            secrets['total'] += 1
            secrets['names'].append(name)
            plain = decrypt(value, key)
            if plain is None:
                secrets['undecryptable'].append(name)
                value = '<undecryptable>'
            else:
                secrets['decryptable'] += 1
                value = plain
        rows.append((logical, name, value))
    for logical, name, value in sorted(rows):
        names[logical].append(name)
        digest[logical].update(json.dumps([name, value]).encode() + b'\n')
    return {'total': len(docs), 'by_scope': by_scope, 'formats': formats,
            'by_logical_scope': {k: len(v) for k, v in names.items()}, 'names': names,
            'secrets': secrets,
            'value_digest': {k: v.hexdigest() for k, v in digest.items()},
            'crypto_key_sha256': hashlib.sha256(open('/etc/st2/keys/datastore_key.json', 'rb')
                                                .read()).hexdigest()
            if os.path.exists('/etc/st2/keys/datastore_key.json') else None}


def packs():
    docs = load('packs')
    docs = docs if isinstance(docs, list) else []
    venvs = {}
    for cfg in glob.glob('/opt/stackstorm/virtualenvs/*/pyvenv.cfg'):
        with open(cfg) as f:
            v = [l.split('=', 1)[1].strip() for l in f if l.startswith('version')]
        venvs[os.path.basename(os.path.dirname(cfg))] = v[0] if v else None
    return {'registered': sorted(d.get('ref', d.get('name')) for d in docs),
            'on_disk': sorted(os.path.basename(os.path.dirname(p))
                              for p in glob.glob('/opt/stackstorm/packs/*/pack.yaml')),
            'virtualenvs': venvs}


def executions():
    docs = load('executions')
    docs = docs if isinstance(docs, list) else []
    by_status, fmt = {}, {'result_dict(<3.5)': 0, 'result_serialized(3.5+)': 0}
    for d in docs:
        by_status[d.get('status')] = by_status.get(d.get('status'), 0) + 1
        if isinstance(d.get('result'), str):
            fmt['result_serialized(3.5+)'] += 1
        elif 'result' in d:
            fmt['result_dict(<3.5)'] += 1
    return {'total': len(docs), 'by_status': by_status, 'formats': fmt,
            'ids_sha256': hashlib.sha256('\n'.join(sorted(d['_id'] for d in docs)).encode())
            .hexdigest()}


def psql(sql):
    return sh('su', 'postgres', '-s', '/bin/sh', '-c',
              'psql -qAt -F "\t" -v ON_ERROR_STOP=1 -d mistral -c "%s"' % sql.replace('"', '\\"'))


def mistral():
    if not os.path.exists('/usr/bin/psql'):
        return None
    rc, out = psql('SELECT 1')
    if rc != 0:
        return {'error': 'cannot query database mistral (PostgreSQL down or no database)'}
    rc, out = psql("SELECT table_name FROM information_schema.tables "
                   "WHERE table_schema = 'public' ORDER BY 1")
    tables = [t for t in out.split('\n') if t]
    counts = {}
    if tables:
        q = ' UNION ALL '.join("SELECT '%s', count(*) FROM %s" % (t, t) for t in tables)
        rc, out = psql(q)
        for line in out.split('\n'):
            if '\t' in line:
                t, n = line.split('\t')
                counts[t] = int(n)
    rev = None
    if 'alembic_version' in tables:
        rc, out = psql('SELECT version_num FROM alembic_version')
        rev = out.strip() or None
    return {'alembic_revision': rev, 'rows': counts}


def audit_logs():
    out = {}
    for p in sorted(glob.glob('/var/log/st2/*.audit.log')):
        with open(p, 'rb') as f:
            data = f.read()
        out[os.path.basename(p)] = {'size': len(data), 'lines': data.count(b'\n'),
                                    'sha256': hashlib.sha256(data).hexdigest()}
    return out


def running():
    found = set()
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                argv = [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
            with open('/proc/%s/stat' % d) as f:
                if f.read().split(') ')[-1][:1] == 'Z':
                    continue
        except OSError:
            continue
        if len(argv) > 1 and argv[1].startswith('/opt/stackstorm/st2/bin/st2'):
            found.add(os.path.basename(argv[1]))
        elif len(argv) > 1 and argv[1] == '/opt/stackstorm/chatops/bin/hubot':
            found.add('st2chatops')
        elif len(argv) > 1 and argv[1].endswith('mistral/bin/gunicorn'):
            found.add('mistral-api')
        elif len(argv) > 1 and argv[1].endswith('bin/mistral-server'):
            found.add('mistral-api' if 'api' in argv else 'mistral')
    return sorted(found)


def conffiles_modified():
    if RPM:
        # rpm -V: 5 in the digest column of a %config file (c) = modified since installed
        rc, out = sh('rpm', '-V', '--nodeps', '--noscripts',
                     'st2', 'st2web', 'st2chatops')
        return sorted(l.split()[-1] for l in out.split('\n')
                      if len(l.split()) >= 3 and l[2:3] == '5' and l.split()[1] == 'c')
    rc, out = sh('dpkg-query', '-W', '-f=${Conffiles}\n', 'st2', 'st2mistral', 'st2web',
                 'st2chatops')
    mod = []
    for line in out.split('\n'):
        parts = line.split()
        if len(parts) >= 2 and os.path.exists(parts[0]):
            with open(parts[0], 'rb') as f:
                if hashlib.md5(f.read()).hexdigest() != parts[1]:
                    mod.append(parts[0])
    return sorted(mod)


def rabbitmq():
    """The RabbitMQ fake's queues, name and ready messages (read from its state file, no tool run)."""
    base = '/var/lib/rabbitmq-double'
    if not os.path.isdir(base):
        return None
    queues = []
    try:
        with open(os.path.join(base, 'queues.tsv')) as f:
            for line in f:
                name, _, n = line.rstrip('\n').partition('\t')
                queues.append({'name': name, 'messages': int(n or 0)})
    except FileNotFoundError:
        pass
    return {'queues': queues}


version = None
try:
    with open('/opt/stackstorm/st2/lib/st2double/BUILD_INFO.json') as f:
        version = json.load(f)['version']
except (OSError, ValueError, KeyError):
    pass
runners = load('runners')
actions = load('actions')
print(json.dumps({
    'st2_version': version,
    'packages': packages(),
    'keys': keys(),
    'packs': packs(),
    'runners': sorted(r['name'] for r in runners) if isinstance(runners, list) else runners,
    'actions': len(actions) if isinstance(actions, list) else actions,
    'executions': executions(),
    'mistral': mistral(),
    'audit_logs': audit_logs(),
    'rabbitmq': rabbitmq(),
    'running_services': running(),
    'conffiles_modified': conffiles_modified(),
}, indent=2, sort_keys=True))
EOF
