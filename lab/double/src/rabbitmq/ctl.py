"""rabbitmqctl of the RabbitMQ double (3.8.9): status, list_queues, delete_queue,
purge_queue.  Output, error texts and exit codes follow rabbitmq-cli 3.8
(lib/rabbitmqctl.ex, ctl/commands/*_command.ex): banners on stdout, errors on stderr
as "Error:\\n<reason>", usage errors 64, node down 69.  Like Debian's
/usr/sbin/rabbitmqctl wrapper, only root (or the rabbitmq user) may run it."""
import os
import pwd
import sys

from . import broker as b

EX_USAGE, EX_DATAERR, EX_SOFTWARE, EX_UNAVAILABLE = 64, 65, 70, 69

QUEUE_INFO_KEYS = ('name', 'durable', 'auto_delete', 'arguments', 'policy', 'pid', 'owner_pid',
                   'exclusive', 'exclusive_consumer_pid', 'exclusive_consumer_tag',
                   'messages_ready', 'messages_unacknowledged', 'messages', 'messages_ready_ram',
                   'messages_unacknowledged_ram', 'messages_ram', 'messages_persistent',
                   'message_bytes', 'message_bytes_ready', 'message_bytes_unacknowledged',
                   'message_bytes_ram', 'message_bytes_persistent', 'head_message_timestamp',
                   'disk_reads', 'disk_writes', 'consumers', 'consumer_utilisation', 'memory',
                   'slave_pids', 'synchronised_slave_pids', 'state', 'type')

USAGE = {
    'status': 'status',
    'list_queues': 'list_queues [--vhost <vhost>] [--online] [--offline] [--local] '
                   '[--no-table-headers] [<column>, ...] [--timeout <timeout>]',
    'delete_queue': 'delete_queue <queue_name> [--if-empty|-e] [--if-unused|-u]',
    'purge_queue': 'purge_queue <queue>',
}
GLOBAL_USAGE = 'rabbitmqctl [--node <node>] [--timeout <timeout>] [--longnames] [--quiet] ' \
               '<command> [<command options>]'


class Exit(Exception):
    def __init__(self, code, text=None):
        super().__init__(text)
        self.code, self.text = code, text


def err(text, code):
    raise Exit(code, text)


def usage_for(cmd):
    return '\nUsage\n\nrabbitmqctl [--node <node>] [--longnames] [--quiet] %s' % USAGE[cmd]


def validation_error(cmd, argv, detail):
    err('Error (argument validation): %s\nArguments given:\n\t%s\n%s'
        % (detail, ' '.join(argv), usage_for(cmd)), EX_USAGE)


def nodedown(node):
    host = node.split('@', 1)[-1]
    err("""Error: unable to perform an operation on node '{n}'. Please see diagnostics information and suggestions below.

Most common reasons for this are:

 * Target node is unreachable (e.g. due to hostname resolution, TCP connection or firewall issues)
 * CLI tool fails to authenticate with the server (e.g. due to CLI tool's Erlang cookie not matching that of the server)
 * Target node is not running

In addition to the diagnostics info below:

 * See the CLI, clustering and networking guides on https://rabbitmq.com/documentation.html to learn more
 * Consult server logs on node {n}
 * If target node is configured to use long node names, don't forget to use --longnames with CLI tools

DIAGNOSTICS
===========

attempted to contact: [{n}]

{n}:
  * connected to epmd (port 4369) on {h}
  * epmd reports: node 'rabbit' not running at all
                  no other nodes on {h}
  * suggestion: start the node
""".format(n=node, h=host), EX_UNAVAILABLE)


def parse(argv):
    """Global and command options may appear anywhere, like the Elixir CLI's parser."""
    opts = {'quiet': False, 'silent': False, 'vhost': '/', 'timeout': None,
            'headers': True, 'if_empty': False, 'if_unused': False, 'node': b.node_name()}
    args = []
    i = 0
    takes_value = {'-n': 'node', '--node': 'node', '-p': 'vhost', '--vhost': 'vhost',
                   '-t': 'timeout', '--timeout': 'timeout'}
    while i < len(argv):
        a = argv[i]
        if '=' in a and a.split('=', 1)[0] in takes_value and a.startswith('--'):
            k, v = a.split('=', 1)
            opts[takes_value[k]] = v
        elif a in takes_value:
            if i + 1 >= len(argv):
                raise Exit(EX_USAGE, 'Error: option %s requires a value' % a)
            opts[takes_value[a]] = argv[i + 1]
            i += 1
        elif a in ('-q', '--quiet'):
            opts['quiet'] = True
        elif a in ('-s', '--silent'):
            opts['silent'] = opts['quiet'] = True
            opts['headers'] = False
        elif a == '--no-table-headers':
            opts['headers'] = False
        elif a in ('-e', '--if-empty'):
            opts['if_empty'] = True
        elif a in ('-u', '--if-unused'):
            opts['if_unused'] = True
        elif a in ('-l', '--longnames', '--online', '--offline', '--local'):
            pass
        elif a.startswith('-') and a != '-':
            args.append(('bad_option', a))
        else:
            args.append(a)
        i += 1
    return opts, args


def banner(opts, *lines):
    if not opts['quiet']:
        for line in lines:
            print(line)
        sys.stdout.flush()


def erl_term(v):
    """The table formatter prints AMQP tables with io_lib ~tp: [{"k",v},...]."""
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, str):
        return '"%s"' % v.replace('\\', '\\\\').replace('"', '\\"')
    if isinstance(v, dict):
        return '[%s]' % ','.join('{%s,%s}' % (erl_term(k), erl_term(v[k])) for k in sorted(v))
    if isinstance(v, list):
        return '[%s]' % ','.join(erl_term(x) for x in v)
    return str(v)


def queue_item(q, key):
    n = len(q['messages'])
    simple = {'name': q['name'], 'durable': q['durable'], 'auto_delete': q['auto_delete'],
              'exclusive': q['exclusive'], 'policy': '', 'messages_ready': n,
              'messages_unacknowledged': 0, 'messages': n, 'messages_ready_ram': n,
              'messages_unacknowledged_ram': 0, 'messages_ram': n,
              'messages_persistent': 0, 'message_bytes': 0, 'message_bytes_ready': 0,
              'message_bytes_unacknowledged': 0, 'message_bytes_ram': 0,
              'message_bytes_persistent': 0, 'head_message_timestamp': '', 'disk_reads': 0,
              'disk_writes': 0, 'consumers': len(q['consumers']),
              'consumer_utilisation': '' if not q['consumers'] else 1.0, 'memory': 0,
              'slave_pids': '', 'synchronised_slave_pids': '', 'state': 'running',
              'type': 'classic', 'pid': '<%s.0.0>' % b.node_name(), 'owner_pid': '',
              'exclusive_consumer_pid': '', 'exclusive_consumer_tag': ''}
    if key == 'arguments':
        return erl_term(q.get('arguments') or {})
    v = simple[key]
    return erl_term(v) if isinstance(v, bool) else str(v)


def cmd_status(opts, args, argv):
    if args:
        validation_error('status', argv, 'too many arguments.')
    b.check_up()
    queues = b.list_queues(None)
    banner(opts, 'Status of node %s ...' % opts['node'])
    print("""Runtime

OS PID: (none: lab double, no Erlang VM; state in {d})
OS: Linux
RabbitMQ version: {v}
Node name: {n}
Erlang configuration: (lab double)

Plugins

Enabled plugin file: /etc/rabbitmq/enabled_plugins
Enabled plugins:

 * rabbitmq_management

Data directory

Node data directory: {d}

Totals

Queue count: {qc}
Ready message count: {mc}

Listeners

Interface: [::], port: 25672, protocol: clustering, purpose: inter-node and CLI tool communication
Interface: [::], port: 5672, protocol: amqp, purpose: AMQP 0-9-1 and AMQP 1.0
Interface: [::], port: 15672, protocol: http, purpose: HTTP API""".format(
        d=b.STATE_DIR, v=b.VERSION, n=opts['node'], qc=len(queues),
        mc=sum(len(q['messages']) for q in queues)))


def cmd_list_queues(opts, args, argv):
    cols = args or ['name', 'messages']
    bad = [c for c in cols if c not in QUEUE_INFO_KEYS]
    if bad:
        validation_error('list_queues', argv, 'Info key(s) %s are not supported' % ','.join(bad))
    b.check_up()
    t = opts['timeout']
    banner(opts, 'Timeout: %s seconds ...' % (float(t) if t not in (None, 'infinity') else 60.0),
           'Listing queues for vhost %s ...' % opts['vhost'])
    if opts['headers']:
        print('\t'.join(cols))
    for q in b.list_queues(opts['vhost']):
        print('\t'.join(queue_item(q, c) for c in cols))


def cmd_delete_queue(opts, args, argv):
    if not args:
        validation_error('delete_queue', argv, 'not enough arguments.')
    if len(args) > 1:
        validation_error('delete_queue', argv, 'too many arguments.')
    if args[0] == '':
        validation_error('delete_queue', argv, 'Bad argument: queue name cannot be an empty string')
    b.check_up()
    extra = [s for s, on in (('if queue is empty ', opts['if_empty']),
                             ('if queue is unused ', opts['if_unused'])) if on]
    banner(opts, "Deleting queue '%s' on vhost '%s' %s..." % (args[0], opts['vhost'],
                                                             'and '.join(extra)))
    try:
        n = b.delete(args[0], opts['vhost'], opts['if_empty'], opts['if_unused'])
    except b.NotFound:
        err('Error:\nQueue not found', EX_USAGE)
    except b.NotEmpty:
        err('Error:\nQueue is not empty', EX_USAGE)
    except b.InUse:
        err('Error:\nQueue is in use', EX_USAGE)
    print('Queue was successfully deleted with %d ready messages' % n)


def cmd_purge_queue(opts, args, argv):
    if len(args) != 1:
        validation_error('purge_queue', argv, 'not enough arguments.' if not args
                         else 'too many arguments.')
    b.check_up()
    banner(opts, "Purging queue '%s' in vhost '%s' ..." % (args[0], opts['vhost']))
    try:
        b.purge(args[0], opts['vhost'])
    except b.NotFound:
        err('Error:\nnot_found', EX_SOFTWARE)      # {:error, :not_found}, DefaultOutput


COMMANDS = {'status': cmd_status, 'list_queues': cmd_list_queues,
            'delete_queue': cmd_delete_queue, 'purge_queue': cmd_purge_queue}


def all_usage():
    return '\nUsage\n\n%s\n\nAvailable commands (lab double: a subset):\n\n%s\n' % (
        GLOBAL_USAGE, '\n'.join('   %s' % USAGE[c] for c in sorted(USAGE)))


def run(argv):
    opts, args = parse(argv)
    bad = [a[1] for a in args if isinstance(a, tuple)]
    args = [a for a in args if not isinstance(a, tuple)]
    if not args:
        err(all_usage(), EX_USAGE)
    cmd, rest = args[0], args[1:]
    if cmd not in COMMANDS:
        err("\nCommand '%s' not found. \n%s" % (cmd, all_usage()), EX_USAGE)
    if bad:
        validation_error(cmd, argv, 'Invalid options for this command:\n%s'
                         % '\n'.join('%s : ' % o.lstrip('-') for o in bad))
    try:
        COMMANDS[cmd](opts, rest, argv)
    except b.NodeDown:
        nodedown(opts['node'])
    except PermissionError as e:
        err('Error:\n%s (lab double: the broker state belongs to root)' % e, EX_SOFTWARE)
    return 0


def is_rabbitmq_user():
    try:
        return os.getuid() == pwd.getpwnam('rabbitmq').pw_uid
    except KeyError:
        return False


def main():
    argv = sys.argv[1:]
    b.log_command('rabbitmqctl', argv)
    if os.getuid() != 0 and not is_rabbitmq_user():
        print('\nOnly root or rabbitmq should run rabbitmqctl\n')
        return 1
    try:
        return run(argv)
    except Exit as e:
        if e.text:
            sys.stdout.flush()
            sys.stderr.write(e.text.rstrip('\n') + '\n')
        return e.code
