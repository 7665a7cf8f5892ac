"""`st2`: the StackStorm CLI of the double, version-gated like st2client."""
import argparse
import base64
import configparser
import hashlib
import datetime
import json
import os
import re
import secrets
import sys
import textwrap
import time

from . import common as c
from . import executions
from . import kv

PORTS = {'st2api': 9101, 'st2auth': 9100}


class CLIError(Exception):
    pass


class ArgParser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write('%s: error: %s\n' % (self.prog, message))
        sys.exit(2)


# --------------------------------------------------------------------------- API / auth

def conn_refused(svc, path):
    return CLIError("HTTPConnectionPool(host='127.0.0.1', port=%d): Max retries exceeded with "
                    "url: %s (Caused by NewConnectionError('<urllib3.connection.HTTPConnection "
                    "object>: Failed to establish a new connection: [Errno 111] Connection "
                    "refused'))" % (PORTS[svc], path))


def api(path, user='-', method='GET'):
    """Every CLI call that goes to st2api: the service must run and the DB answer."""
    if not c.service_running('st2api'):
        raise conn_refused('st2api', path)
    try:
        c.check_db()
    except c.DBError as e:
        raise CLIError('500 Server Error: Internal Server Error\nMESSAGE: %s for url: '
                       'http://127.0.0.1:9101%s' % (e, path))
    c.audit('st2api', 'api_request', method=method, path=path, user=user)


def htpasswd_ok(user, password):
    try:
        with open('/etc/st2/htpasswd') as f:
            for line in f:
                u, _, h = line.strip().partition(':')
                if u != user:
                    continue
                if h.startswith('{SHA}'):
                    return h[5:] == base64.b64encode(
                        hashlib.sha1(password.encode()).digest()).decode()
                if h.startswith('$sha256$'):
                    salt, digest = h[8:].split('$', 1)
                    return hashlib.sha256((salt + password).encode()).hexdigest() == digest
    except OSError:
        return False
    return False


def issue_token(user, ttl=86400):
    tok = secrets.token_hex(16)
    with c.db_lock():
        docs = c.load('tokens')
        docs.append({'_id': c.new_id(), 'user': user, 'token': tok,
                     'expiry': int(time.time()) + ttl})
        c.save('tokens', docs)
    c.audit('st2auth', 'token_issued', user=user)
    return tok


def auth_enabled():
    v = c.conf_get(c.load_config(), 'auth', 'enable', 'True')
    return v.strip().lower() in ('true', '1', 'yes')


CONFIG_FILE = None    # st2 --config-file


def cli_config():
    cp = configparser.ConfigParser(interpolation=None)
    path = CONFIG_FILE or os.environ.get('ST2_CONFIG_FILE') or os.path.expanduser('~/.st2/config')
    cp.read(path)
    return cp


def authenticate(path, a=None):
    """The user a request runs as; raises the real client's 401 when nothing is given. `-t` and
    `--api-key` take precedence over ST2_AUTH_TOKEN and ST2_API_KEY (st2client resource.py)."""
    tok = getattr(a, 'token', None) or os.environ.get('ST2_AUTH_TOKEN')
    if tok:
        for d in c.load('tokens'):
            if d['token'] == tok and d['expiry'] > time.time():
                return d['user']
        raise CLIError('401 Client Error: Unauthorized\nMESSAGE: Unauthorized - Token with value'
                       ' "%s" not found for url: http://127.0.0.1:9101%s' % (tok, path))
    key = getattr(a, 'api_key', None) or os.environ.get('ST2_API_KEY')
    if key and c.at_least('2.0'):
        h = hashlib.sha256(key.encode()).hexdigest()
        for d in c.load('apikeys'):
            if d['key_hash'] == h and d.get('enabled', True):
                return d['user']
        raise CLIError('401 Client Error: Unauthorized\nMESSAGE: Unauthorized - ApiKey with '
                       'key_hash=%s not found. for url: http://127.0.0.1:9101%s' % (h, path))
    cp = cli_config()
    user = c.conf_get(cp, 'credentials', 'username')
    password = c.conf_get(cp, 'credentials', 'password')
    if user and password:
        if not c.service_running('st2auth'):
            raise conn_refused('st2auth', '/tokens')
        if not htpasswd_ok(user, password):
            raise CLIError('Failed to authenticate with credentials provided in the config. '
                           '401 Client Error: Unauthorized for url: http://127.0.0.1:9100/tokens')
        issue_token(user)
        return user
    if not auth_enabled():
        return 'stanley'
    raise CLIError('401 Client Error: Unauthorized\nMESSAGE: Unauthorized - One of Token or API '
                   'key required. for url: http://127.0.0.1:9101%s' % path)


def call(path, method='GET', a=None):
    if not c.service_running('st2api'):
        raise conn_refused('st2api', path)
    user = authenticate(path, a)
    api(path, user, method)
    return user


# --------------------------------------------------------------------------- output

def fmt(v):
    if v is None:
        return ''
    if isinstance(v, bool):
        return 'True' if v else 'False'
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def terminal_columns():
    """st2client's get_terminal_size_columns (st2 v3.0.1 … v3.9.0 st2client/utils/terminal.py):
    COLUMNS, a tty's size, else 150; from 3.5 every failed probe writes an empty line on stderr
    (fds 0-2 and the controlling terminal: four without any tty, as in the 3.8.1/3.9.0 tables)."""
    if os.environ.get('COLUMNS', '').isdigit():
        return int(os.environ['COLUMNS'])
    import fcntl
    import struct
    import termios
    probes = [lambda fd=fd: fd for fd in (0, 1, 2)] + [lambda: os.open(os.ctermid(), os.O_RDONLY)]
    for probe in probes:
        try:
            fd = probe()
            return struct.unpack('hh', fcntl.ioctl(fd, termios.TIOCGWINSZ, b'1234'))[1]
        except OSError:
            if c.at_least('3.5'):
                sys.stderr.write('\n')
    return 150


def _wrap(text, width):
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width) or ['']


def table(rows, cols, limits=None):
    """st2client's MultiColumnTable on PrettyTable (st2 v3.0.1 … v3.9.0
    st2client/formatters/table.py): each column at most floor(columns / number of columns) wide
    (an `id` first column never wraps), longer values wrapped onto more lines, left-aligned."""
    cells = [[fmt(r.get(col)) for col in cols] for r in rows]
    if limits is None and c.at_least('3.0'):
        total = terminal_columns()
        if cols[0] == 'id':
            first = max([26] + [len(x[0]) for x in cells])
            width = (total - first) // len(cols)
        else:
            first = width = total // len(cols)
        limits = [first] + [24 if col == 'status' else width for col in cols[1:]]
    elif limits is None:
        limits = [10 ** 6] * len(cols)
    wrapped = [[_wrap(v, lim) for v, lim in zip(x, limits)] for x in cells]
    # PrettyTable sizes a column by its longest unwrapped value, capped at the limit
    widths = [min(lim, max([len(col)] + [len(x[i]) for x in cells]))
              for i, (col, lim) in enumerate(zip(cols, limits))]
    sep = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    out = [sep, '| ' + ' | '.join(col.ljust(w) for col, w in zip(cols, widths)) + ' |', sep]
    for x in wrapped:
        for k in range(max(len(v) for v in x)):
            out.append('| ' + ' | '.join((v[k] if k < len(v) else '').ljust(w)
                                         for v, w in zip(x, widths)) + ' |')
    out.append(sep)
    print('\n'.join(out))


def prop_table(obj, attrs):
    """st2client's PropertyValueTable: Property at most 20 wide, Value at most 60, at every tag
    from v1.4.0 to v3.9.0 (st2client/formatters/table.py; 30-seed-keys.txt shows the wrap)."""
    table([{'Property': a, 'Value': obj.get(a)} for a in attrs if a in obj], ['Property', 'Value'],
          [20, 60])


def dump_json(obj):
    print(json.dumps(obj, indent=4, sort_keys=True))


def yamlish(obj, indent=0):
    pad = '  ' * indent
    lines = []
    for k in sorted(obj):
        v = obj[k]
        if isinstance(v, dict):
            lines.append('%s%s: ' % (pad, k))
            lines.extend(yamlish(v, indent + 1))
        elif isinstance(v, str):
            lines.append("%s%s: %s" % (pad, k, v if v and '\n' not in v and not v.isspace()
                                       else json.dumps(v) if v else "''"))
        else:
            lines.append('%s%s: %s' % (pad, k, json.dumps(v)))
    return lines


# --------------------------------------------------------------------------- key

def limit_arg(p, always=False):
    if always or c.at_least('2.4'):
        p.add_argument('-n', '--last', type=int, default=50, dest='limit', metavar='LAST',
                       help='List N most recent key value pairs. Use -n -1 to fetch the full '
                            'result set.')


def scope_arg(p, default):
    if kv.era() != 'v14':
        p.add_argument('-s', '--scope', default=default, dest='scope',
                       help='Scope item is under. Example: "user".')


def key_list(a):
    """Like the real API and client: documents in the database's natural (insertion) order, as the
    3.8.1/3.9.0 transcripts show (31-*, 33-*); `--scope all` (3.0+) is the system keys, limited,
    followed by the user's keys, limited again (st2 v3.0.1 and v3.9.0
    st2api/st2api/controllers/v1/keyvalue.py get_all), with no "only first" note (no total count);
    -j/-y print the list reversed (st2client/commands/keyvalue.py run_and_print, from v2.2.0)."""
    user = call('/v1/keys', a=a)
    docs = kv.live_docs()
    scope = getattr(a, 'scope', None)
    limit = getattr(a, 'limit', None)
    lim = (lambda ds: ds[:limit]) if limit is not None and limit > 0 else (lambda ds: ds)
    total = None
    if a.prefix:
        docs = [d for d in docs if d['name'].startswith(a.prefix)]
    if kv.era() != 'v14':
        if scope not in kv.cli_scopes():
            raise CLIError('400 Client Error: Bad Request\nMESSAGE: Invalid scope: %s' % scope)
        # -u: an admin lists another user's keys (st2 v3.9.0 st2client/commands/keyvalue.py)
        user = getattr(a, 'user', None) or user
        mine = [d for d in docs if d['scope'] == kv.user_scope() and d.get('user') == user]
        system = [d for d in docs if d['scope'] == kv.system_scope()]
        if scope == 'all' and c.at_least('3.0'):
            docs = lim(system) + lim(mine)
        else:
            if scope == 'all':
                docs = [d for d in docs if d['scope'] in (kv.system_scope(), kv.user_scope())]
            else:
                docs = mine if kv.full_scope(scope) == kv.user_scope() else system
            total = len(docs)
            docs = lim(docs)
    else:
        total = len(docs)
        docs = lim(docs)
    try:
        rows = [kv.api_view(d, decrypt=getattr(a, 'decrypt', False)) for d in docs]
    except c.CryptoError as e:
        raise CLIError('500 Server Error: Internal Server Error\nMESSAGE: %s' % e)
    if a.json:
        dump_json(rows[::-1] if c.at_least('2.2') else rows)
    else:
        cols = ['name', 'value', 'expire_timestamp'] if kv.era() == 'v14' else \
            ['name', 'value', 'secret', 'encrypted', 'scope', 'user', 'expire_timestamp']
        # KeyValuePairListCommand.attribute_transform_functions (st2client, 3.x)
        table([dict(r, expire_timestamp=format_time(r.get('expire_timestamp'))) for r in rows], cols)
        if total is not None and limit is not None and 0 < limit < total:
            sys.stderr.write('Note: Only first %d key value pairs are displayed. Use -n/--last '
                             'flag for more results.\n' % limit)


def _get_doc(name, scope, user):
    docs = kv.live_docs()
    if kv.era() == 'v14':
        return next((d for d in docs if d['name'] == name), None)
    return kv.find(docs, name, kv.full_scope(scope), user)


def key_get(a):
    user = call('/v1/keys/%s' % a.name, a=a)
    d = _get_doc(a.name, getattr(a, 'scope', None), user)
    if d is None:
        # resource.py print_not_found, then the shell's error (38d-key-get-missing.txt)
        print('Key Value Pair "%s" is not found.\n' % a.name)
        raise CLIError('Resource %s not found.' % a.name)
    try:
        view = kv.api_view(d, decrypt=getattr(a, 'decrypt', False))
    except c.CryptoError as e:
        raise CLIError('500 Server Error: Internal Server Error\nMESSAGE: %s' % e)
    # the client shows only KeyValuePairGetCommand.display_attributes, which never had `user`
    # (st2 v1.5.0 … v3.8.1 st2client/commands/keyvalue.py; 38c transcript)
    view.pop('user', None)
    if a.json:
        dump_json(view)
    else:
        prop_table(view, ['name', 'value', 'secret', 'encrypted', 'scope', 'expire_timestamp'])


def _store(name, value, scope, user, secret=False, encrypted_value=None, ttl=None):
    if kv.era() != 'v14':
        if scope not in ('system', 'user', 'st2kv.system', 'st2kv.user'):
            raise CLIError('400 Client Error: Bad Request\nMESSAGE: Invalid scope: %s' % scope)
        scope = kv.full_scope(scope)
    with c.db_lock():
        doc = kv.make_doc(name, value, scope=scope, user=user, secret=secret,
                          encrypted_value=encrypted_value, ttl=ttl)
        kv.upsert(doc)
    return doc


def key_set(a):
    user = call('/v1/keys/%s' % a.name, 'PUT', a)
    scope = getattr(a, 'scope', None)
    target_user = getattr(a, 'user', None) or user
    try:
        doc = _store(a.name, a.value, scope, target_user, secret=getattr(a, 'secret', False),
                     ttl=a.ttl)
    except c.CryptoError as e:
        raise CLIError('400 Client Error: Bad Request\nMESSAGE: %s' % e)
    view = kv.api_view(doc)
    # the client shows only KeyValuePairGetCommand.display_attributes, which never had `user`
    # (st2 v1.5.0 … v3.8.1 st2client/commands/keyvalue.py; 38c transcript)
    view.pop('user', None)
    if a.json:
        dump_json(view)
    else:
        # KeyValuePairSetCommand.display_attributes: `scope` from v3.0.0, never secret/encrypted
        # (st2 v2.6.0, v3.0.0, v3.9.0 st2client/commands/keyvalue.py; 30-seed-keys.txt)
        prop_table(dict(view, expire_timestamp=view.get('expire_timestamp') or ''),
                   ['name', 'value'] + (['scope'] if c.at_least('3.0') else []) +
                   ['expire_timestamp'])


def key_delete(a):
    user = call('/v1/keys/%s' % a.name, 'DELETE', a)
    with c.db_lock():
        d = _get_doc(a.name, getattr(a, 'scope', None), getattr(a, 'user', None) or user)
        if d is None:
            raise CLIError('Key Value Pair "%s" is not found.' % a.name)
        c.save('kv', [x for x in c.load('kv') if x['_id'] != d['_id']])
    print('Resource with id "%s" has been successfully deleted.' % a.name)


def parse_scalar(s):
    s = s.strip()
    if s in ('', '~', 'null', 'Null', 'NULL'):
        return None
    if s in ('true', 'True', 'TRUE', 'yes'):
        return True
    if s in ('false', 'False', 'FALSE', 'no'):
        return False
    if len(s) >= 2 and s[0] == s[-1] == '"':
        return json.loads(s)
    if len(s) >= 2 and s[0] == s[-1] == "'":
        return s[1:-1].replace("''", "'")
    if re.match(r'^-?\d+$', s):
        return int(s)
    if re.match(r'^-?\d+\.\d+$', s):
        return float(s)
    if s[0] in '[{':
        try:
            return json.loads(s)
        except ValueError:
            pass
    return s


def parse_yaml_records(text):
    """The subset of YAML that key files use: a list of flat mappings (or one mapping)."""
    items, cur = [], None
    for raw in text.splitlines():
        line = raw.split(' #')[0].rstrip() if not raw.lstrip().startswith('#') else ''
        if not line.strip() or line.strip() == '---':
            continue
        m = re.match(r'^(\s*)(- )?\s*([^:]+):\s*(.*)$', line)
        if not m:
            raise ValueError('Cannot parse line: %s' % raw)
        if m.group(2) or cur is None:
            cur = {}
            items.append(cur)
        cur[m.group(3).strip()] = parse_scalar(m.group(4))
    return items


def key_load(a):
    path = os.path.normpath(os.path.join(os.getcwd(), a.file))
    if not os.path.exists(a.file):
        raise CLIError('File "%s" doesn\'t exist' % path)
    if not os.path.isfile(a.file):
        raise CLIError('"%s" is not a file' % path)
    with open(a.file) as f:
        text = f.read()
    if not c.at_least('2.6'):
        items = json.loads(text)
    else:
        try:
            items = json.loads(text)
        except ValueError:
            items = parse_yaml_records(text)
    if isinstance(items, dict):
        items = [items]
    user = call('/v1/keys', 'PUT', a)
    out = []
    for item in items:
        name, value = item['name'], item['value']
        if not c.at_least('2.6'):
            # 1.4 - 2.5: only name and value are read; scope, secret, user are dropped.
            doc = _store(name, value if isinstance(value, str) else json.dumps(value),
                         kv.system_scope() and 'system', user)
            out.append({'id': name, 'name': name, 'value': doc['value']})
            continue
        if not isinstance(value, str):
            if not a.convert:
                # st2 v2.6.0 … v3.9.0 st2client/commands/keyvalue.py (65 transcript)
                raise CLIError("Item '%s' has a value that is not a string. Either pass in the "
                               "-c/--convert option to convert non-string types to JSON strings "
                               "automatically, or convert the data to a string in the file" % name)
            value = json.dumps(value)
        scope = item.get('scope') or 'system'
        secret = bool(item.get('secret', False))
        encrypted = bool(item.get('encrypted', False)) and c.at_least('3.0')
        target_user = item.get('user') or user
        try:
            if encrypted:
                if not secret:
                    raise CLIError('400 Client Error: Bad Request\nMESSAGE: encrypted option can'
                                   ' only be used in combination with secret option')
                c.decrypt(value)   # the API verifies it can decrypt with ITS crypto key
                doc = _store(name, None, scope, target_user, encrypted_value=value,
                             ttl=item.get('ttl'))
            else:
                doc = _store(name, value, scope, target_user, secret=secret,
                             ttl=item.get('ttl'))
        except c.CryptoError as e:
            raise CLIError('400 Client Error: Bad Request\nMESSAGE: Failed to verify the '
                           'encrypted value of "%s": %s' % (name, e))
        # the client prints what it sent, not what the API stored (st2 v2.6.0 … v3.9.0
        # st2client/commands/keyvalue.py KeyValuePairLoadCommand; 61, 63 transcripts)
        sent = {'name': name, 'value': value, 'scope': scope}
        for k, v in (('user', item.get('user')), ('secret', secret), ('ttl', item.get('ttl'))):
            if v:
                sent[k] = v
        out.append(sent)
    if a.json:
        dump_json(out)
    else:
        table(out, ['name', 'value', 'secret', 'scope', 'user', 'ttl'])


# --------------------------------------------------------------------------- run / executions

def parse_run_params(tokens):
    params, bare = {}, []
    if '--' in tokens:
        i = tokens.index('--')
        tokens, tail = tokens[:i], tokens[i + 1:]
        bare_cmd = ' '.join(tail)
    else:
        bare_cmd = None
    for t in tokens:
        m = re.match(r'^([A-Za-z_][A-Za-z0-9_]*)=(.*)$', t, re.S)
        if m:
            params[m.group(1)] = m.group(2)
        else:
            bare.append(t)
    cmd = ' '.join(x for x in [' '.join(bare), bare_cmd or ''] if x)
    if cmd and 'cmd' not in params:
        params['cmd'] = cmd
    return params


# st2client's colours (st2client/utils/color.py, every tag since 1.4): only when TERM names one of
# these terminals -- over SSH without a tty TERM is unset and nothing is coloured.
ANSI_TERMS = ('xterm', 'xterm-color', 'screen', 'vt100', 'vt100-color', 'xterm-256color')
STATUS_COLORS = {'succeeded': '\033[92m', 'delayed': '\033[94m', 'failed': '\033[91m',
                 'timeout': '\033[33m', 'running': '\033[93m'}


def colorize(value, color):
    if os.environ.get('ST2_COLORIZE') or \
            os.environ.get('TERM', '').lower() not in ANSI_TERMS:
        return value
    return '%s%s\033[0m' % (color, value)


def format_status(value):
    return colorize(value, STATUS_COLORS.get(value, '\033[93m'))


def format_time(iso):
    if not iso:
        return ''
    dt = datetime.datetime.strptime(iso[:19], '%Y-%m-%dT%H:%M:%S')
    return dt.strftime('%a, %d %b %Y %H:%M:%S UTC')


def print_execution(d):
    """What `st2 run` prints when the execution is done: st2client's ExecutionResultFormatter with
    ActionRunCommand's attribute_display_order (same at every tag from v1.4.0 to v3.9.0); the
    status transform runs twice from 3.5 (v3.5.0 formatters/execution.py), wrapping the colour in
    yellow, as the 3.8.1/3.9.0 transcripts show (42-st2-run-core-local-date.txt)."""
    print('.')
    view = execution_view(d)
    status = format_status(view['status'])
    if c.at_least('3.5'):
        status = format_status(status)
    values = [('id', view['id']), ('action.ref', view['action']['ref']),
              ('context.user', view['context'].get('user')), ('parameters', view['parameters']),
              ('status', status), ('start_timestamp', format_time(view['start_timestamp'])),
              ('end_timestamp', format_time(view['end_timestamp'])), ('result', view['result'])]
    for attr, value in values:
        if isinstance(value, dict):
            value = '\n' + '\n'.join(yamlish(value, 1)) if value else '{}'
        elif value is None:
            value = ''
        print('%s: %s' % (colorize(attr, '\033[94m'), value))


def run_action(ref, params, async_=False, timeout=None, as_json=False):
    user = call('/v1/executions', 'POST')
    try:
        doc = executions.create(ref, params, user)
    except LookupError as e:
        raise CLIError(str(e))
    c.audit('st2api', 'execution_requested', execution=doc['_id'], action=ref, user=user)
    if async_:
        print('To get the results, execute:\n st2 execution get %s' % doc['_id'])
        return 0
    timeout = timeout or float(os.environ.get('ST2_DOUBLE_RUN_TIMEOUT', '60'))
    t0 = time.time()
    while time.time() - t0 < timeout:
        d = executions.find(doc['_id'])
        if d and d['status'] in ('succeeded', 'failed', 'timeout', 'canceled', 'abandoned'):
            if as_json:
                print()
                dump_json(execution_view(d))
            else:
                print_execution(d)
            return 0 if d['status'] == 'succeeded' else 1
        time.sleep(0.2)
    d = executions.find(doc['_id']) or doc
    raise CLIError('execution %s is still "%s" after %ds: nothing picked it up (is %s '
                   'running?)' % (doc['_id'], d['status'], timeout,
                                  'st2scheduler' if d['status'] == 'requested'
                                  else 'st2actionrunner'))


def cmd_run(a):
    return run_action(a.ref, parse_run_params(a.params), async_=a.async_, as_json=a.json)


def execution_view(d):
    return {'id': d['_id'], 'action': {'ref': d['action']['ref']}, 'status': d['status'],
            'context': d.get('context', {}), 'start_timestamp': d.get('start_timestamp'),
            'end_timestamp': d.get('end_timestamp'), 'parameters': d.get('parameters'),
            'result': executions.get_result(d)}


def execution_list(a):
    call('/v1/executions', a=a)
    docs = c.load('executions')
    docs.sort(key=lambda d: d.get('start_timestamp', ''), reverse=True)
    limit = getattr(a, 'limit', None)
    if limit is not None and limit > 0:
        docs = docs[:limit]
    rows = [execution_view(d) for d in docs]
    if a.json:
        dump_json(rows)
    else:
        table([{'id': r['id'], 'action.ref': r['action']['ref'],
                'context.user': r['context'].get('user'), 'status': r['status'],
                'start_timestamp': r['start_timestamp'], 'end_timestamp': r['end_timestamp']}
               for r in rows], ['id', 'action.ref', 'context.user', 'status',
                                'start_timestamp', 'end_timestamp'])


def execution_get(a):
    call('/v1/executions/%s' % a.id, a=a)
    d = executions.find(a.id)
    if d is None:
        raise CLIError('Execution "%s" is not found.' % a.id)
    if a.json:
        dump_json(execution_view(d))
    else:
        print_execution(d)


# --------------------------------------------------------------------------- packs, actions

def pack_list(a):
    call('/v1/packs', a=a)
    rows = sorted(c.load('packs'), key=lambda d: d.get('ref', d.get('name')))
    rows = [{k: d.get(k) for k in ('ref', 'name', 'description', 'version', 'author')
             if d.get(k) is not None} for d in rows]
    if a.json:
        dump_json(rows)
    else:
        table(rows, (['ref'] if c.at_least('2.1') else []) +
              ['name', 'description', 'version', 'author'])


def pack_install(a):
    return run_action('packs.install', {'packs': a.packs}, timeout=300)


def action_list(a):
    call('/v1/actions', a=a)
    rows = sorted(c.load('actions'), key=lambda d: d['ref'])
    if a.pack:
        rows = [r for r in rows if r['pack'] == a.pack]
    rows = [{'ref': r['ref'], 'pack': r['pack'], 'description': r.get('description', '')}
            for r in rows]
    if a.json:
        dump_json(rows)
    else:
        table(rows, ['ref', 'pack', 'description'])


def cmd_auth(a):
    if not c.service_running('st2auth'):
        raise conn_refused('st2auth', '/tokens')
    password = a.password
    if password is None:
        import getpass
        password = getpass.getpass()
    if not htpasswd_ok(a.username, password):
        raise CLIError('401 Client Error: Unauthorized\nMESSAGE: Invalid or missing credentials')
    tok = issue_token(a.username)
    if a.only_token:
        print(tok)
    elif a.json:
        dump_json({'user': a.username, 'token': tok})
    else:
        prop_table({'user': a.username, 'token': tok}, ['user', 'token'])


def apikey_create(a):
    user = call('/v1/apikeys', 'POST', a)
    key = secrets.token_urlsafe(32)
    with c.db_lock():
        docs = c.load('apikeys')
        docs.append({'_id': c.new_id(), 'user': user, 'enabled': True,
                     'key_hash': hashlib.sha256(key.encode()).hexdigest()})
        c.save('apikeys', docs)
    print(key if a.only_key else json.dumps({'key': key, 'user': user}))


# --------------------------------------------------------------------------- parser

def version_string():
    if c.at_least('2.7'):
        return 'st2 %s, on Python %s' % (c.VERSION, c.PYTHON)
    return 'st2 %s' % c.VERSION


# The client's commands in the order of its usage line (st2 v3.9.0 st2client/st2client/shell.py;
# the 3.8.1 and 3.9.0 transcripts 44-*); the double imitates the ones in IMITATED and accepts the
# others' names only to fail clearly. Older clients had fewer commands: they list the imitated ones.
COMMANDS = ['run', 'action', 'action-alias', 'auth', 'login', 'whoami', 'apikey', 'execution',
            'inquiry', 'key', 'pack', 'policy', 'policy-type', 'rule', 'webhook', 'timer',
            'runner', 'sensor', 'trace', 'trigger', 'trigger-instance', 'rule-enforcement',
            'workflow', 'service-registry', 'role', 'role-assignment']
IMITATED = ('run', 'action', 'auth', 'apikey', 'execution', 'key', 'pack')
# What the 3.8.1 and 3.9.0 clients print for these options (st2 v3.9.0 st2client/st2client/shell.py,
# commands/resource.py, commands/keyvalue.py; transcripts 38b, 44b, 60): the help text is compared
# byte for byte with the transcripts.
HELP = {
    'token': 'Access token for user authentication. Get ST2_AUTH_TOKEN from the environment '
             'variables by default.',
    'api_key': 'Api Key for user authentication. Get ST2_API_KEY from the environment variables '
               'by default.',
    'json': 'Print output in JSON format.',
    'yaml': 'Print output in YAML format.',
    'attr': 'List of attributes to include in the output. "all" will return all attributes.',
    'width': 'Set the width of columns in output.',
    'pack': 'Only return resources belonging to the provided pack',
    'prefix': 'Only return values with names starting with the provided prefix.',
    'decrypt': 'Decrypt secrets and displays plain text.',
    'user': 'User for user scoped items (admin only).',
    'file': 'JSON/YAML file containing the key value pairs(s) to load',
    'convert': 'Convert non-string types (hash, array, boolean, int, float) to a JSON string '
               'before loading it into the datastore.',
}


def not_imitated(a):
    raise CLIError('st2 %s is not imitated by the StackStorm test double' % a.cmd)


def auth_args(q):
    """Every API command's credentials options (st2client ResourceCommand)."""
    q.add_argument('-t', '--token', help=HELP['token'])
    if c.at_least('2.0'):     # API keys arrive in 2.0
        q.add_argument('--api-key', help=HELP['api_key'])


def out_args(q):
    q.add_argument('-j', '--json', action='store_true', help=HELP['json'])
    q.add_argument('-y', '--yaml', action='store_true', help=HELP['yaml'])


def list_args(q):
    """ResourceListCommand's display options (accepted; the double prints its fixed columns)."""
    q.add_argument('-a', '--attr', nargs='+', help=HELP['attr'])
    q.add_argument('-w', '--width', nargs='+', type=int, help=HELP['width'])


def build_parser():
    p = ArgParser(prog='st2', description='CLI for StackStorm event-driven automation platform.')
    p.add_argument('--version', action='store_true')
    if c.at_least('3.8'):
        # the global options of the recorded clients: accepted; the double's API is local
        for opt, metavar in (('--url', 'BASE_URL'), ('--auth-url', 'AUTH_URL'),
                             ('--api-url', 'API_URL'), ('--stream-url', 'STREAM_URL'),
                             ('--api-version', 'API_VERSION'), ('--cacert', 'CACERT'),
                             ('--basic-auth', 'BASIC_AUTH'), ('--config-file', 'CONFIG_FILE')):
            p.add_argument(opt, metavar=metavar)
        p.add_argument('--print-config', action='store_true')
        p.add_argument('--skip-config', action='store_true')
    p.add_argument('--debug', action='store_true')
    sub = p.add_subparsers(dest='cmd')
    parsers = {}
    for name in COMMANDS:
        if name in IMITATED and (name != 'apikey' or c.at_least('2.0')):
            parsers[name] = sub.add_parser(name)
        elif c.at_least('3.8'):
            sub.add_parser(name).set_defaults(fn=not_imitated)

    k = parsers['key'].add_subparsers(dest='sub')
    q = k.add_parser('list', description='Get the list of the 50 most recent key value pairs.')
    auth_args(q)
    out_args(q)
    list_args(q)
    q.add_argument('--prefix', help=HELP['prefix'])
    if kv.era() != 'v14':
        if c.at_least('3.0'):
            q.add_argument('-d', '--decrypt', action='store_true', help=HELP['decrypt'])
        else:
            q.add_argument('--decrypt', action='store_true', help=HELP['decrypt'])
        scope_arg(q, 'all' if c.at_least('2.9') else 'system')
        q.add_argument('-u', '--user', default=None, help=HELP['user'])
    limit_arg(q)
    q.set_defaults(fn=key_list)
    q = k.add_parser('get')
    q.add_argument('name')
    auth_args(q)
    out_args(q)
    scope_arg(q, 'system')
    if kv.era() != 'v14':
        q.add_argument('-d', '--decrypt', action='store_true', help=HELP['decrypt'])
    q.set_defaults(fn=key_get)
    q = k.add_parser('set')
    q.add_argument('name')
    q.add_argument('value')
    auth_args(q)
    out_args(q)
    q.add_argument('-l', '--ttl', type=int, default=None)
    if kv.era() != 'v14':
        q.add_argument('-e', '--encrypt', dest='secret', action='store_true')
        scope_arg(q, 'system')
        q.add_argument('-u', '--user', default=None, help=HELP['user'])
    q.set_defaults(fn=key_set)
    q = k.add_parser('delete')
    q.add_argument('name')
    auth_args(q)
    scope_arg(q, 'system')
    if kv.era() != 'v14':
        q.add_argument('-u', '--user', default=None, help=HELP['user'])
    q.set_defaults(fn=key_delete)
    q = k.add_parser('load', description='Load a list of key value pairs from file.')
    q.add_argument('file', help=HELP['file'])
    auth_args(q)
    out_args(q)
    if c.at_least('2.6'):
        q.add_argument('-c', '--convert', action='store_true', help=HELP['convert'])
    q.set_defaults(fn=key_load, convert=False)

    q = parsers['run']
    q.add_argument('ref')
    # nargs='*' as st2client's ActionRunCommand: options go before the ref, and
    # `st2 run core.local -j -- date -R` fails like the real one (43b transcript)
    q.add_argument('params', nargs='*')
    auth_args(q)
    out_args(q)
    q.add_argument('-a', '--async', dest='async_', action='store_true')
    q.set_defaults(fn=cmd_run)

    e = parsers['execution'].add_subparsers(dest='sub')
    q = e.add_parser('list')
    auth_args(q)
    out_args(q)
    limit_arg(q, always=True)    # `st2 execution list -n` predates the key list limit
    q.set_defaults(fn=execution_list)
    q = e.add_parser('get')
    q.add_argument('id')
    auth_args(q)
    out_args(q)
    q.set_defaults(fn=execution_get)

    pk = parsers['pack'].add_subparsers(dest='sub')
    q = pk.add_parser('list')
    auth_args(q)
    out_args(q)
    list_args(q)
    q.set_defaults(fn=pack_list)
    if c.at_least('2.1'):
        q = pk.add_parser('install')
        q.add_argument('packs', nargs='+')
        auth_args(q)
        q.set_defaults(fn=pack_install)

    ac = parsers['action'].add_subparsers(dest='sub')
    q = ac.add_parser('list', description='Get the list of actions.')
    auth_args(q)
    out_args(q)
    list_args(q)
    q.add_argument('-p', '--pack', help=HELP['pack'])
    q.set_defaults(fn=action_list)

    q = parsers['auth']
    q.add_argument('username')
    q.add_argument('-p', '--password')
    q.add_argument('-t', '--only-token', action='store_true')
    q.add_argument('-j', '--json', action='store_true')
    q.set_defaults(fn=cmd_auth)

    if c.at_least('2.0'):
        ak = parsers['apikey'].add_subparsers(dest='sub')
        q = ak.add_parser('create')
        auth_args(q)
        q.add_argument('-k', '--only-key', action='store_true')
        q.set_defaults(fn=apikey_create)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    c.log_command('st2', ['st2'] + argv)
    p = build_parser()
    # `st2 run ACTION -- CMD` must keep everything after the action ref verbatim
    a = p.parse_args(argv)
    global CONFIG_FILE
    CONFIG_FILE = getattr(a, 'config_file', None)
    if getattr(a, 'print_config', False):
        print('ERROR: st2 --print-config is not imitated by the StackStorm test double\n')
        return 1
    if a.version:
        # Python 2's argparse printed --version on stderr, Python 3's on stdout.
        stream = sys.stderr if c.py2() else sys.stdout
        stream.write(version_string() + '\n')
        return 0
    if not getattr(a, 'fn', None):
        p.print_help()
        return 2
    try:
        rc = a.fn(a)
        return rc or 0
    except (CLIError, c.DBError, ValueError, KeyError) as e:
        # st2client's shell prints every error on stdout, then a blank line (st2 v1.4.0 … v3.9.0
        # st2client/st2client/shell.py: print('ERROR: %s\n' % e)); the 3.8.1/3.9.0 transcripts agree
        print('ERROR: %s\n' % e)
        return 1
