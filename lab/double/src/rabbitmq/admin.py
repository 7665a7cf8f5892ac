"""rabbitmqadmin of the RabbitMQ double (3.8.9): the management plugin's HTTP client.
Emulated: `list queues [<column>...]`, `declare queue name=... [durable=...]
[auto_delete=...] [arguments=<json>]`, `delete queue name=...`, `purge queue name=...`,
with the real client's options, formats (-f table|tsv|long|kvp|bash|raw_json|pretty_json),
messages ("queue deleted"), errors ("*** Not found: /api/queues/%2F/<name>", exit 1)
and its list-to-table logic.  There is no HTTP server: requests go straight to the
broker state (broker.py), after the same checks the server would make (node up,
guest/guest only from localhost)."""
import json
import optparse
import os
import sys
import urllib.parse

from . import broker as b

LISTABLE = {'queues': {'vhost': True, 'cols': ['name', 'messages']}}
NOT_EMULATED = ('connections', 'channels', 'consumers', 'exchanges', 'bindings', 'users',
                'vhosts', 'permissions', 'nodes', 'parameters', 'policies', 'operator_policies',
                'vhost_limits')
DECLARABLE = {'queue': {'mandatory': ['name'], 'json': ['arguments'],
                        'optional': {'auto_delete': 'false', 'durable': 'true',
                                     'arguments': {}, 'node': None}}}
DELETABLE = {'queue': {'mandatory': ['name'], 'optional': {}}}
PURGABLE = {'queue': {'mandatory': ['name'], 'optional': {}}}
PROMOTE_COLUMNS = ['vhost', 'name', 'type', 'source', 'destination', 'destination_type',
                   'routing_key']
LOCAL = ('localhost', '127.0.0.1', '::1', 'ip6-localhost')


def output(s):
    print(s)


def die(s):
    sys.stdout.flush()
    sys.stderr.write('*** {0}\n'.format(s))
    sys.exit(1)


def assert_usage(expr, error):
    if not expr:
        output('\nERROR: {0}\n'.format(error))
        output('{0} --help for help\n'.format(os.path.basename(sys.argv[0])))
        sys.exit(1)


class HTTPError(Exception):
    def __init__(self, status, reason=''):
        super().__init__(reason)
        self.status, self.reason = status, reason


def queue_json(q):
    n = len(q['messages'])
    return {'name': q['name'], 'vhost': q['vhost'], 'durable': q['durable'],
            'auto_delete': q['auto_delete'], 'exclusive': q['exclusive'],
            'arguments': q.get('arguments') or {}, 'node': b.node_name(),
            'messages': n, 'messages_ready': n, 'messages_unacknowledged': 0,
            'consumers': len(q['consumers']), 'state': 'running', 'type': 'classic'}


def api(method, path, body=None):
    """The management API's answer to METHOD /api<path>, from the broker state."""
    parsed = urllib.parse.urlsplit(path)
    parts = [urllib.parse.unquote_plus(p) for p in parsed.path.split('/')[1:]]
    if parts[:1] != ['queues']:
        raise HTTPError(404)
    try:
        if method == 'GET' and len(parts) <= 2:
            qs = b.list_queues(parts[1] if len(parts) == 2 else None)
            return json.dumps([queue_json(q) for q in qs])
        vhost, name = parts[1], parts[2]
        if method == 'DELETE' and len(parts) == 3:
            b.delete(name, vhost)
            return ''
        if method == 'DELETE' and len(parts) == 4 and parts[3] == 'contents':
            b.purge(name, vhost)
            return ''
        if method == 'PUT' and len(parts) == 3:
            up = json.loads(body or '{}')

            def flag(k, default):
                v = up.get(k, default)
                return v if isinstance(v, bool) else str(v).lower() == 'true'
            b.declare(name, vhost, durable=flag('durable', True),
                      auto_delete=flag('auto_delete', False), arguments=up.get('arguments'),
                      declared_by='rabbitmqadmin (uid %d)' % os.getuid())
            return ''
    except b.NotFound:
        raise HTTPError(404)
    except b.PreconditionFailed as e:
        raise HTTPError(400, str(e))
    raise HTTPError(405)


class Management:
    def __init__(self, options, args):
        self.options = options
        self.args = args

    def http(self, method, path, body):
        o = self.options
        if o.hostname not in LOCAL + (b.node_name().split('@')[1],) or str(o.port) != '15672':
            die('Could not connect: [Errno 111] Connection refused')
        try:
            b.check_up()
        except b.NodeDown:
            die('Could not connect: [Errno 111] Connection refused')
        if (o.username, o.password) != ('guest', 'guest'):
            die('Access refused: {0}'.format(path))
        try:
            return api(method, path[len(o.path_prefix) + 4:], body)
        except HTTPError as e:
            if e.status == 400:
                die(e.reason)
            if e.status == 404:
                die('Not found: {0}'.format(path))
            raise Exception('Received %d %s for path %s\n%s' % (e.status, e.reason, path, ''))
        except b.NodeDown:
            die('Could not connect: [Errno 111] Connection refused')
        except PermissionError:
            die('lab double: only root can change the broker state (the real rabbitmqadmin '
                'would do it over HTTP as guest): run it with sudo')

    def get(self, path):
        return self.http('GET', '%s/api%s' % (self.options.path_prefix, path), '')

    def put(self, path, body):
        return self.http('PUT', '%s/api%s' % (self.options.path_prefix, path), body)

    def delete(self, path):
        return self.http('DELETE', '%s/api%s' % (self.options.path_prefix, path), '')

    def verbose(self, string):
        if self.options.verbose:
            output(string)

    def invoke_list(self):
        assert_usage(len(self.args) > 0, 'Type not specified')
        obj_type = self.args[0]
        if obj_type in NOT_EMULATED:
            die('lab double: "list %s" is not emulated (queues only)' % obj_type)
        assert_usage(obj_type in LISTABLE, "Don't know how to list {0}".format(obj_type))
        obj_info = LISTABLE[obj_type]
        uri = '/%s' % obj_type
        if obj_info['vhost'] and self.options.vhost:
            uri += '/%s' % urllib.parse.quote_plus(self.options.vhost)
        cols = self.args[1:]
        if cols == [] and 'cols' in obj_info and self.options.format not in ('raw_json',
                                                                             'pretty_json'):
            cols = obj_info['cols']
        if cols:
            uri += '?columns=' + ','.join(cols)
        format_list(self.get(uri), cols, obj_info, self.options)

    def declare_delete_parse(self, root, verb):
        assert_usage(len(self.args) > 0, 'Type not specified')
        obj_type = self.args[0]
        if obj_type not in root and obj_type in ('exchange', 'binding', 'vhost', 'user',
                                                 'permission', 'parameter', 'policy'):
            die('lab double: "%s %s" is not emulated (queues only)' % (verb, obj_type))
        assert_usage(obj_type in root, 'Type {0} not recognised'.format(obj_type))
        obj = root[obj_type]
        upload = {k: v for k, v in obj['optional'].items() if v}
        for arg in self.args[1:]:
            assert_usage('=' in arg, 'Argument "{0}" not in format name=value'.format(arg))
            name, value = arg.split('=', 1)
            assert_usage(name in obj['mandatory'] or name in obj['optional'],
                         'Argument "{0}" not recognised'.format(name))
            if name in obj.get('json', []):
                try:
                    upload[name] = json.loads(value)
                except ValueError:
                    output('Could not parse JSON:\n  {0}'.format(value))
                    sys.exit(1)
            else:
                upload[name] = value
        for m in obj['mandatory']:
            assert_usage(m in upload, 'mandatory argument "{0}" required'.format(m))
        upload['vhost'] = self.options.vhost or '/'
        uri = '/queues/%s/%s' % (urllib.parse.quote_plus(upload['vhost']),
                                 urllib.parse.quote_plus(upload['name']))
        return obj_type, uri, upload

    def invoke_declare(self):
        obj_type, uri, upload = self.declare_delete_parse(DECLARABLE, 'declare')
        self.put(uri, json.dumps(upload))
        self.verbose('{0} declared'.format(obj_type))

    def invoke_delete(self):
        obj_type, uri, _ = self.declare_delete_parse(DELETABLE, 'delete')
        self.delete(uri)
        self.verbose('{0} deleted'.format(obj_type))

    def invoke_purge(self):
        obj_type, uri, _ = self.declare_delete_parse(PURGABLE, 'purge')
        self.delete(uri + '/contents')
        self.verbose('{0} purged'.format(obj_type))


def column_sort_key(col):
    if col in PROMOTE_COLUMNS:
        return (1, PROMOTE_COLUMNS.index(col))
    return (2, col)


class Lister:
    def __init__(self, columns, obj_info, options):
        self.columns = columns
        self.obj_info = obj_info
        self.options = options

    def verbose(self, string):
        if self.options.verbose:
            output(string)

    def display(self, json_list):
        depth = sys.maxsize
        if len(self.columns) == 0:
            depth = int(self.options.depth)
        (columns, table) = self.list_to_table(json.loads(json_list), depth)
        if len(table) > 0:
            self.display_list(columns, table)
        else:
            self.verbose('No items')

    def list_to_table(self, items, max_depth):
        columns = {}
        column_ix = {}
        row = None
        table = []

        def add(prefix, depth, item, fun):
            for key in item:
                column = prefix == '' and key or (prefix + '.' + key)
                subitem = item[key]
                if isinstance(subitem, dict):
                    if 'json' in self.obj_info and key in self.obj_info['json']:
                        fun(column, json.dumps(subitem))
                    elif depth < max_depth:
                        add(column, depth + 1, subitem, fun)
                elif isinstance(subitem, list):
                    if [x for x in subitem if not isinstance(x, str)] == []:
                        serialised = ' '.join(subitem)
                    else:
                        serialised = json.dumps(subitem)
                    fun(column, serialised)
                else:
                    fun(column, subitem)

        def add_to_columns(col, val):
            columns[col] = True

        def add_to_row(col, val):
            if col in column_ix:
                row[column_ix[col]] = str(val)

        if len(self.columns) == 0:
            for item in items:
                add('', 1, item, add_to_columns)
            columns = sorted(columns.keys(), key=column_sort_key)
        else:
            columns = self.columns
        for i, col in enumerate(columns):
            column_ix[col] = i
        for item in items:
            row = len(columns) * ['']
            add('', 1, item, add_to_row)
            table.append(row)
        return (columns, table)


class TSVList(Lister):
    def display_list(self, columns, table):
        self.verbose('\t'.join(columns))
        for row in table:
            output('\t'.join(row))


class LongList(Lister):
    def display_list(self, columns, table):
        sep = '\n' + '-' * 80 + '\n'
        fmt = '{0:>' + str(max(len(c) for c in columns)) + '}: {1}'
        output(sep)
        for row in table:
            for j, col in enumerate(columns):
                output(fmt.format(col, row[j]))
            output(sep)


class TableList(Lister):
    def display_list(self, columns, table):
        rows = [columns] + table
        widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
        bar = '+' + ''.join('-' * (w + 2) + '+' for w in widths)
        output(bar)
        output('|' + ''.join((' {0:^' + str(w) + '} ').format(columns[i]) + '|'
                             for i, w in enumerate(widths)))
        output(bar)
        for r in table:
            output('|' + ''.join((' {0:<' + str(w) + '} ').format(r[i]) + '|'
                                 for i, w in enumerate(widths)))
        output(bar)


class KeyValueList(Lister):
    def display_list(self, columns, table):
        for row in table:
            output(' '.join('{0}="{1}"'.format(c, row[j]) for j, c in enumerate(columns)))


class BashList(Lister):
    def display_list(self, columns, table):
        if 'name' in columns:
            ix = columns.index('name')
            output(' '.join(row[ix] for row in table))


FORMATS = {'raw_json': None, 'pretty_json': None, 'tsv': TSVList, 'long': LongList,
           'table': TableList, 'kvp': KeyValueList, 'bash': BashList}


def format_list(json_list, columns, args, options):
    fmt = options.format
    if fmt == 'raw_json':
        output(json_list)
        return
    if fmt == 'pretty_json':
        output(json.dumps(json.loads(json_list), skipkeys=False, ensure_ascii=False,
                          check_circular=True, allow_nan=True, sort_keys=True, indent=2))
        return
    formatter = FORMATS.get(fmt)
    assert_usage(formatter is not None, 'Format {0} not recognised'.format(fmt))
    formatter(columns, args, options).display(json_list)


def make_parser():
    p = optparse.OptionParser(usage='rabbitmqadmin [options] subcommand')
    add = p.add_option
    add('-c', '--config', dest='config')
    add('-N', '--node', dest='node')
    add('-H', '--host', dest='hostname', default='localhost')
    add('-P', '--port', dest='port', default='15672')
    add('--path-prefix', dest='path_prefix', default='')
    add('-V', '--vhost', dest='vhost')
    add('-u', '--username', dest='username', default='guest')
    add('-p', '--password', dest='password', default='guest')
    add('-q', '--quiet', action='store_false', dest='verbose', default=True)
    add('-s', '--ssl', action='store_true', dest='ssl')
    add('-f', '--format', dest='format', default='table')
    add('-S', '--sort', dest='sort')
    add('-R', '--sort-reverse', action='store_true', dest='sort_reverse')
    add('-d', '--depth', dest='depth', default=1)
    add('--version', action='store_true', dest='version')
    return p


def main():
    argv = sys.argv[1:]
    b.log_command('rabbitmqadmin', argv)
    options, args = make_parser().parse_args(argv)
    if options.version:
        output('rabbitmqadmin {0}'.format(b.VERSION))
        return 0
    assert_usage(len(args) > 0, 'Action not specified')
    mgmt = Management(options, args[1:])
    mode = 'invoke_' + args[0]
    assert_usage(hasattr(mgmt, mode), 'Action {0} not understood'.format(args[0]))
    getattr(mgmt, mode)()
    return 0
