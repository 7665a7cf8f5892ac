"""Shared plumbing of the StackStorm test double: version gates, paths, the
file-backed "MongoDB", the command log, audit logs, faults and the datastore
crypto.  Python 3 standard library only."""
import configparser
import contextlib
import datetime
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _read_build_info():
    with open(os.path.join(HERE, 'BUILD_INFO.json')) as f:
        return json.load(f)


BUILD = _read_build_info()
VERSION = BUILD['version']          # e.g. "2.2.0"


def vtuple(v):
    return tuple(int(x) for x in v.split('.')[:3])


V = vtuple(VERSION)

# The Python a packaged st2 runs on, per release line and distribution: a copy of
# components/catalog/python.ts (facts from StackStorm/st2-packages, cited there; compared by
# tests/unit/double-python.test.ts). (first line, last line, distributions, MAJOR.MINOR)
PACKAGED_PYTHON = [
    ((1, 4), (3, 3), ('ubuntu-14.04', 'ubuntu-16.04'), '2.7'),
    ((2, 10), (3, 3), ('ubuntu-18.04',), '3.6'),
    ((3, 4), (3, 4), ('ubuntu-16.04', 'ubuntu-18.04'), '3.6'),
    ((3, 5), (3, 8), ('ubuntu-18.04',), '3.6'),
    ((3, 5), (3, 9), ('ubuntu-20.04',), '3.8'),
    ((3, 9), (3, 9), ('ubuntu-22.04',), '3.10'),
    ((1, 4), (3, 3), ('el6', 'el7'), '2.7'),
    ((3, 4), (3, 8), ('el7',), '3.6'),
    ((3, 2), (3, 6), ('el8',), '3.6'),
    ((3, 7), (3, 9), ('el8',), '3.8'),
    ((3, 9), (3, 9), ('el9',), '3.9'),
]
# The patch release of that Python in each Ubuntu release's final updates (Ubuntu's archive:
# trusty python2.7 2.7.6, xenial python2.7 2.7.12, bionic python3.6 3.6.9, focal python3.8
# 3.8.10, jammy python3.10 3.10.12): what `st2 --version` prints there.
DISTRO_PYTHON = {('ubuntu-14.04', '2.7'): '2.7.6', ('ubuntu-16.04', '2.7'): '2.7.12',
                 ('ubuntu-18.04', '3.6'): '3.6.9', ('ubuntu-20.04', '3.8'): '3.8.10',
                 ('ubuntu-22.04', '3.10'): '3.10.12'}
EL_IDS = ('rhel', 'centos', 'rocky', 'almalinux')


def host_os(path='/etc/os-release'):
    """`ubuntu-22.04`, `el8`, ... from os-release; None for another distribution."""
    try:
        with open(path) as f:
            rel = dict(line.rstrip('\n').split('=', 1) for line in f if '=' in line)
    except OSError:
        return None
    os_id, ver = rel.get('ID', '').strip('"'), rel.get('VERSION_ID', '').strip('"')
    if os_id == 'ubuntu':
        return 'ubuntu-%s' % ver
    if os_id in EL_IDS and ver:
        return 'el%s' % ver.split('.')[0]
    return None


def packaged_python():
    """The Python this release's package runs on on this host's distribution; the package's own
    claim (BUILD_INFO.json) where the distribution is not one the release was packaged for, or
    where the patch release is not known (then only if MAJOR.MINOR agree)."""
    dist = host_os()
    line = V[:2]
    for first, last, dists, mm in PACKAGED_PYTHON:
        if first <= line <= last and dist in dists:
            if (dist, mm) in DISTRO_PYTHON:
                return DISTRO_PYTHON[(dist, mm)]
            return BUILD['python'] if BUILD['python'].startswith(mm + '.') else mm
    return BUILD['python']


PYTHON = packaged_python()          # the Python the real package ran on, e.g. "2.7.12"


def at_least(v):
    return V >= vtuple(v)


def py2():
    return PYTHON.startswith('2.')


ST2_CONF = '/etc/st2/st2.conf'
DB_DIR = '/var/lib/st2-double/db'
RUN_DIR = '/var/run/st2'
LOG_DIR = '/var/log/st2'
CMD_LOG = '/var/log/st2-double/commands.log'
FAULT_DIR = '/etc/st2-double/faults'
PACKS_DIR = '/opt/stackstorm/packs'
VENV_DIR = '/opt/stackstorm/virtualenvs'
ST2_BIN = '/opt/stackstorm/st2/bin'
CHATOPS_DIR = '/opt/stackstorm/chatops'
MISTRAL_INIT = '/etc/init.d/mistral'


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def new_id():
    """24 hex digits, like a MongoDB ObjectId."""
    return '%08x' % int(time.time()) + secrets.token_hex(8)


# --------------------------------------------------------------------------- logs

def _append(path, line):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(line + '\n')


def log_command(prog, argv=None):
    """One line per invocation: tests use it to prove a no-op run executed nothing."""
    rec = {'time': now_iso(), 'uid': os.getuid(), 'prog': prog,
           'argv': list(sys.argv if argv is None else argv), 'st2_version': VERSION}
    try:
        _append(CMD_LOG, json.dumps(rec, sort_keys=True))
    except OSError:
        pass   # non-root users cannot write the log; the real CLI has no such log anyway


def audit(svc, event, **extra):
    """StackStorm audit logs are JSON lines in /var/log/st2/<svc>.audit.log."""
    rec = {'timestamp': now_iso(), 'service': svc, 'event': event, 'st2_version': VERSION,
           'pid': os.getpid()}
    rec.update(extra)
    try:
        _append(os.path.join(LOG_DIR, '%s.audit.log' % svc), json.dumps(rec, sort_keys=True))
    except OSError:
        pass


def service_log(svc, msg, level='INFO'):
    line = '%s %s %s [-] %s' % (datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S,%f')[:-3],
                                os.getpid(), level, msg)
    try:
        _append(os.path.join(LOG_DIR, '%s.log' % svc), line)
    except OSError:
        pass


# --------------------------------------------------------------------------- faults

def fault(name, once=True):
    """True if /etc/st2-double/faults/<name> exists; one-shot faults delete the file."""
    p = os.path.join(FAULT_DIR, name)
    if not os.path.exists(p):
        return False
    if once:
        try:
            os.unlink(p)
        except OSError:
            pass
    return True


# --------------------------------------------------------------------------- config

def load_config(path=ST2_CONF):
    cp = configparser.ConfigParser(interpolation=None)
    if path and os.path.exists(path):
        cp.read(path)
    return cp


# The [database] options st2 registers (name, type, default as repr, deprecated names, deprecated
# for removal), as the 3.8.1 and 3.9.0 recordings list them (real-st2/<v>/70-database-options.txt;
# st2 v3.8.1 and v3.9.0 st2common/st2common/config.py register_opts). 3.9 renames ssl -> tls and
# ssl_ca_certs -> tls_ca_file (old names still read), keeps ssl_cert_reqs and ssl_match_hostname
# as fallbacks and ssl_keyfile/ssl_certfile registered but unused (v3.9.0
# st2common/st2common/models/db/__init__.py _get_tls_kwargs has no key or certificate file but
# tls_certificate_key_file). Older releases are not recorded: None.
_DB_COMMON = [
    ('authentication_mechanism', 'String', 'None'), ('compressors', 'String', "''"),
    ('connection_retry_backoff_max_s', 'Integer', '10'),
    ('connection_retry_backoff_mul', 'Integer', '1'),
    ('connection_retry_max_delay_m', 'Integer', '3'), ('connection_timeout', 'Integer', '3000'),
    ('db_name', 'String', "'st2'"), ('host', 'String', "'127.0.0.1'"),
    ('password', 'String', 'None'), ('port', 'Integer', '27017'),
    ('username', 'String', 'None'), ('zlib_compression_level', 'Integer', "''"),
]
_DB_SSL = [('ssl_cert_reqs', 'String', 'None'), ('ssl_certfile', 'String', 'None'),
           ('ssl_keyfile', 'String', 'None'), ('ssl_match_hostname', 'Boolean', 'True')]


def database_options():
    """[(name, type, default, deprecated names, deprecated for removal)] sorted by name."""
    if not at_least('3.8'):
        return None
    if not at_least('3.9'):
        rows = [o + ((), False) for o in _DB_COMMON + _DB_SSL +
                [('ssl', 'Boolean', 'False'), ('ssl_ca_certs', 'String', 'None')]]
    else:
        rows = [o + ((), False) for o in _DB_COMMON] + [o + ((), True) for o in _DB_SSL] + [
            ('tls', 'Boolean', 'False', ('ssl',), False),
            ('tls_allow_invalid_certificates', 'Boolean', 'None', (), False),
            ('tls_allow_invalid_hostnames', 'Boolean', 'None', (), False),
            ('tls_ca_file', 'String', 'None', ('ssl_ca_certs',), False),
            ('tls_certificate_key_file', 'String', 'None', (), False),
            ('tls_certificate_key_file_password', 'String', 'None', (), False)]
    return sorted(rows)


def conf_get(cp, section, option, default=None):
    if cp.has_section(section) and cp.has_option(section, option):
        return cp.get(section, option)
    return default


# --------------------------------------------------------------------------- "MongoDB"

class DBError(Exception):
    pass


MONGO_DOWN = ("pymongo.errors.ServerSelectionTimeoutError: 127.0.0.1:27017: "
              "[Errno 111] Connection refused")


def check_db(config_file=None, cli_config_given=True):
    """Connecting to the database.  Fault `mongodb-down` (persistent) makes every
    DB user fail like a stopped MongoDB.  Scripts run without --config-file do not
    know the database credentials: from 2.2 on (MongoDB auth enabled by the
    installer) that fails like real pymongo."""
    if fault('mongodb-down', once=False):
        raise DBError(MONGO_DOWN)
    if not cli_config_given:
        cp = load_config(ST2_CONF)
        if conf_get(cp, 'database', 'username'):
            raise DBError('pymongo.errors.OperationFailure: command find requires '
                          'authentication (not authorized on st2, code 13)')


@contextlib.contextmanager
def db_lock():
    os.makedirs(DB_DIR, exist_ok=True)
    with open(os.path.join(DB_DIR, '.lock'), 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def coll_path(name):
    return os.path.join(DB_DIR, '%s.json' % name)


def load(name):
    try:
        with open(coll_path(name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def save(name, docs):
    os.makedirs(DB_DIR, exist_ok=True)
    tmp = coll_path(name) + '.tmp.%d' % os.getpid()
    with open(tmp, 'w') as f:
        json.dump(docs, f, indent=1, sort_keys=True)
        f.write('\n')
    os.rename(tmp, coll_path(name))


def upsert(docs, doc, same):
    """Puts `doc` in place of the first document `same` picks, keeping that one's _id (an update,
    as the API does for an existing name), or appends it."""
    for i, d in enumerate(docs):
        if same(d):
            doc['_id'] = d['_id']
            docs[i] = doc
            return
    docs.append(doc)


# --------------------------------------------------------------------------- crypto

KEY_PATH = '/etc/st2/keys/datastore_key.json'


class CryptoError(Exception):
    pass


def generate_key(path):
    key = {'hmacKey': {'hmacKeyString': secrets.token_hex(32), 'size': 256},
           'aesKeyString': secrets.token_hex(32), 'mode': 'CBC', 'size': 256}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(key, f)
    return key


def read_key(path=None):
    if path is None:
        path = conf_get(load_config(), 'keyvalue', 'encryption_key_path') or KEY_PATH
    try:
        with open(path) as f:
            k = json.load(f)
        return bytes.fromhex(k['aesKeyString']), bytes.fromhex(k['hmacKey']['hmacKeyString'])
    except (OSError, ValueError, KeyError):
        raise CryptoError('Crypto key not found or unreadable: %s' % path)


def _keystream(key, nonce, n):
    out = b''
    ctr = 0
    while len(out) < n:
        out += hmac.new(key, nonce + ctr.to_bytes(8, 'big'), hashlib.sha256).digest()
        ctr += 1
    return out[:n]


def encrypt(plain, key=None):
    enc_key, mac_key = key or read_key()
    nonce = secrets.token_bytes(16)
    data = plain.encode('utf-8')
    ct = bytes(a ^ b for a, b in zip(data, _keystream(enc_key, nonce, len(data))))
    tag = hmac.new(mac_key, nonce + ct, hashlib.sha256).digest()[:16]
    return (nonce + ct + tag).hex().upper()


def decrypt(cipher_hex, key=None):
    enc_key, mac_key = key or read_key()
    try:
        raw = bytes.fromhex(cipher_hex)
    except (ValueError, TypeError):
        raise CryptoError('Failed to decrypt value: not a hex encoded ciphertext')
    if len(raw) < 32:
        raise CryptoError('Failed to decrypt value: ciphertext too short')
    nonce, ct, tag = raw[:16], raw[16:-16], raw[-16:]
    if not hmac.compare_digest(tag, hmac.new(mac_key, nonce + ct, hashlib.sha256).digest()[:16]):
        raise CryptoError('Failed to decrypt value: Signature did not match digest '
                          '(was it encrypted with a different crypto key?)')
    return bytes(a ^ b for a, b in zip(ct, _keystream(enc_key, nonce, len(ct)))).decode('utf-8')


# --------------------------------------------------------------------------- processes

def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ')[-1][:1] != 'Z'
    except OSError:
        return False


def proc_cmdlines():
    out = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                argv = [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
        except OSError:
            continue
        if argv and pid_alive(int(d)):
            out[int(d)] = argv
    return out


def service_pids(svc):
    """Like st2ctl's `ps ax | grep bin/<svc>`: every live process running that service."""
    pids = []
    for pid, argv in proc_cmdlines().items():
        if pid == os.getpid():
            continue
        if svc == 'st2chatops':
            if len(argv) > 1 and argv[1] == CHATOPS_DIR + '/bin/hubot':
                pids.append(pid)
        elif len(argv) > 1 and argv[1] == '%s/%s' % (ST2_BIN, svc):
            pids.append(pid)
    return sorted(pids)


def service_running(svc):
    return bool(service_pids(svc))
