"""The lab's RabbitMQ fake (package rabbitmq-server 3.8.9-0st2double1): only what st2-upgrade
and the StackStorm double use of RabbitMQ, with the real tools' output.

The upgrade program (components/scripts/migrations.ts) runs, for the 2.3 notifier queue:
  rabbitmqadmin -f tsv list queues name messages     rabbitmqctl -q list_queues name messages
  rabbitmqadmin delete queue name=Q                   rabbitmqctl delete_queue Q
Anything else is refused with "not emulated" (exit 64), never answered wrongly.

No broker runs: the state is one file, /var/lib/rabbitmq-double/queues.tsv, a line per queue
"<name>\\t<ready messages>", changed under a lock. The StackStorm double's services
(st2double/amqp.py) declare their notifier queue, publish an update into every notifier
queue and drain the one their notifier consumes; the fault file rabbitmq-down stops the node.

Output formats, from RabbitMQ's own sources at tag v3.8.9:
  rabbitmqctl (github.com/rabbitmq/rabbitmq-cli v3.8.9):
    lib/rabbitmq/cli/ctl/commands/list_queues_command.ex: default columns name messages; banner
      "Timeout: <s> seconds ..." / "Listing queues for vhost / ..."; lib/rabbitmqctl.ex
      maybe_print_banner: -q drops the banner; lib/rabbitmq/cli/formatters/table.ex: the header
      line of the columns comes with the first row (no queue, no header) unless
      --no-table-headers or -s, values joined by tabs;
    lib/rabbitmq/cli/ctl/commands/delete_queue_command.ex: banner "Deleting queue '<q>' on vhost
      '<v>' ...", "Queue was successfully deleted with <n> messages", not found: exit_usage with
      "Queue not found"; lib/rabbitmqctl.ex format_error: "Error:\\n<text>" on stderr, and
      badrpc_error_message_header for a node that is down; lib/rabbitmq/cli/core/exit_codes.ex:
      usage 64, unavailable 69.
  rabbitmqadmin (github.com/rabbitmq/rabbitmq-management v3.8.9, bin/rabbitmqadmin): die()
    prints "*** <text>" and a blank line on stderr, exit 1; http(): a 404 is "Not found: <path>",
    a refused connection "Could not connect: [Errno 111] Connection refused"; queues list
    name messages by default; Lister.display prints "No items" through verbose() when there is
    no row, else TSVList prints the header through verbose() (so -q drops it), then one
    tab-joined row per queue; invoke_delete prints "<type> deleted" through verbose().
Debian's /usr/sbin/rabbitmqctl wrapper lets only root or the rabbitmq user run it.
Checked against the real rabbitmqctl 3.10.8 (Debian 12) with no queue: `-q list_queues name
messages` prints nothing; `delete_queue` of a missing queue prints the banner, then "Error:" /
"Queue not found" on stderr, exit 64."""
import contextlib
import fcntl
import json
import os
import socket
import sys
import time
import urllib.parse

VERSION = '3.8.9'
STATE_DIR = '/var/lib/rabbitmq-double'
STATE = os.path.join(STATE_DIR, 'queues.tsv')
FAULT_DOWN = '/etc/st2-double/faults/rabbitmq-down'
CMD_LOG = '/var/log/st2-double/commands.log'
ST2_BUILD_INFO = '/opt/stackstorm/st2/lib/st2double/BUILD_INFO.json'
EX_USAGE, EX_UNAVAILABLE = 64, 69


class NodeDown(Exception):
    pass


def node_name():
    return 'rabbit@%s' % socket.gethostname().split('.')[0]


def installed():
    return os.path.isdir(STATE_DIR)


@contextlib.contextmanager
def queues(write=False):
    """The queues, name -> ready messages, under the node's lock; written back when `write`."""
    if os.path.exists(FAULT_DOWN) or not installed():
        raise NodeDown(node_name())
    lock = os.open(STATE_DIR, os.O_RDONLY)     # the folder is the lock: any reader can take it
    try:
        fcntl.flock(lock, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
        state = {}
        if os.path.exists(STATE):
            with open(STATE) as f:
                for line in f:
                    name, _, n = line.rstrip('\n').partition('\t')
                    state[name] = int(n or 0)
        yield state
        if write:
            tmp = '%s.%d' % (STATE, os.getpid())
            with open(tmp, 'w') as f:
                f.writelines('%s\t%d\n' % (q, state[q]) for q in sorted(state))
            os.rename(tmp, STATE)
    finally:
        os.close(lock)


# ------------------------------------------------------------------ the StackStorm double's side

def declare(name):
    with queues(write=True) as qs:
        qs.setdefault(name, 0)


def publish(names):
    """One message into each of `names` that exists (a queue bound to the update's exchange)."""
    with queues(write=True) as qs:
        for name in names:
            if name in qs:
                qs[name] += 1


def drain(name):
    """Messages delivered to the queue's consumer; None when the queue is gone (consumer cancelled)."""
    with queues(write=True) as qs:
        if name not in qs:
            return None
        n, qs[name] = qs[name], 0
        return n


# ------------------------------------------------------------------ the tools

def log_command(prog, argv):
    """One JSON line per invocation in the StackStorm double's command log (lab/double/README.md)."""
    try:
        with open(ST2_BUILD_INFO) as f:
            st2_version = json.load(f).get('version')
    except (OSError, ValueError):
        st2_version = None
    rec = {'time': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'uid': os.getuid(),
           'prog': prog, 'argv': [prog] + argv, 'st2_version': st2_version,
           'rabbitmq_version': VERSION}
    try:
        os.makedirs(os.path.dirname(CMD_LOG), exist_ok=True)
        with open(CMD_LOG, 'a') as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(json.dumps(rec, sort_keys=True) + '\n')
    except OSError:
        pass


def not_emulated(prog, argv):
    sys.stderr.write('%s (lab fake): "%s" is not emulated; only what st2-upgrade runs is '
                     '(lab/double/src/rabbitmq/rmqfake.py)\n' % (prog, ' '.join(argv)))
    return EX_USAGE


def admin_main(argv):
    log_command('rabbitmqadmin', argv)

    def die(text):
        sys.stderr.write('*** %s\n\n' % text)
        return 1
    quiet = '-q' in argv or '--quiet' in argv
    rest = [a for a in argv if a not in ('-q', '--quiet')]
    fmt = 'table'
    if rest[:2] in (['-f', 'tsv'], ['--format', 'tsv']):
        fmt, rest = 'tsv', rest[2:]
    try:
        if fmt == 'tsv' and rest in (['list', 'queues'], ['list', 'queues', 'name', 'messages']):
            with queues() as qs:
                if qs and not quiet:
                    print('name\tmessages')
                elif not quiet:
                    print('No items')
                for name in sorted(qs):
                    print('%s\t%d' % (name, qs[name]))
            return 0
        if len(rest) == 3 and rest[:2] == ['delete', 'queue'] and rest[2].startswith('name='):
            name = rest[2][len('name='):]
            with queues(write=True) as qs:
                if name not in qs:
                    return die('Not found: /api/queues/%%2F/%s' % urllib.parse.quote_plus(name))
                del qs[name]
            if not quiet:
                print('queue deleted')
            return 0
    except NodeDown:
        return die('Could not connect: [Errno 111] Connection refused')
    except PermissionError:
        return die('lab fake: only root may change the queues (the real tool asks the server '
                   'over HTTP): run it with sudo')
    return not_emulated('rabbitmqadmin', argv)


def ctl_main(argv):
    log_command('rabbitmqctl', argv)
    if os.getuid() != 0:
        print('\nOnly root or rabbitmq should run rabbitmqctl\n')
        return 1
    quiet = '-q' in argv or '--quiet' in argv
    rest = [a for a in argv if a not in ('-q', '--quiet')]
    node = node_name()

    def banner(*lines):
        if not quiet:
            print('\n'.join(lines))
    try:
        # The banner comes before the node is asked (rabbitmqctl.ex prints it before running).
        if rest in (['list_queues'], ['list_queues', 'name', 'messages']):
            banner('Timeout: 60.0 seconds ...', 'Listing queues for vhost / ...')
            with queues() as qs:
                if qs:
                    print('name\tmessages')
                for name in sorted(qs):
                    print('%s\t%d' % (name, qs[name]))
            return 0
        if len(rest) == 2 and rest[0] == 'delete_queue':
            name = rest[1]
            banner("Deleting queue '%s' on vhost '/' ..." % name)
            with queues(write=True) as qs:
                if name not in qs:
                    sys.stderr.write('Error:\nQueue not found\n')
                    return EX_USAGE
                n = qs.pop(name)
            print('Queue was successfully deleted with %d messages' % n)
            return 0
    except NodeDown:
        sys.stderr.write("Error: unable to perform an operation on node '%s'. Please see "
                         "diagnostics information and suggestions below.\n"
                         "(lab fake: the fault rabbitmq-down is armed)\n" % node)
        return EX_UNAVAILABLE
    return not_emulated('rabbitmqctl', argv)
