"""State of the RabbitMQ double (package rabbitmq-server 3.8.9-0st2double1).

No Erlang node runs: the broker's state lives on disk, one JSON file per queue under
/var/lib/rabbitmq-double/queues/<vhost, %-quoted>/<name, %-quoted>.json holding the
queue's name, vhost, durable/auto_delete/exclusive flags, arguments, bindings, ready
messages and consumers.  A consumer is a live process (pid + start time): when the
process dies its consumer goes away, like a closed AMQP connection.  Every operation
runs under one lock, like the broker's serialised queue process.

Clients: rabbitmqctl and rabbitmqadmin of this package (ctl.py, admin.py) and the
StackStorm double's services (st2double/amqp.py imports this module).
Python 3 standard library only."""
import contextlib
import datetime
import fcntl
import json
import os
import socket
import urllib.parse

VERSION = '3.8.9'
STATE_DIR = '/var/lib/rabbitmq-double'
QUEUES_DIR = os.path.join(STATE_DIR, 'queues')
# Same fault directory as the StackStorm double: `touch` it to stop the node.
FAULT_DOWN = '/etc/st2-double/faults/rabbitmq-down'
CMD_LOG = '/var/log/st2-double/commands.log'
ST2_BUILD_INFO = '/opt/stackstorm/st2/lib/st2double/BUILD_INFO.json'

# Arguments RabbitMQ 3.8 compares when a queue is declared again
# (rabbit_amqqueue:declare_args/0, consume_args aside); other x-args are not checked.
EQUIVALENCE_ARGS = ('x-expires', 'x-message-ttl', 'x-dead-letter-exchange',
                    'x-dead-letter-routing-key', 'x-max-length', 'x-max-length-bytes',
                    'x-max-in-memory-length', 'x-max-in-memory-bytes', 'x-max-priority',
                    'x-overflow', 'x-queue-mode', 'x-queue-type', 'x-single-active-consumer',
                    'x-quorum-initial-group-size', 'x-delivery-limit')


class BrokerError(Exception):
    pass


class NodeDown(BrokerError):
    pass


class NotFound(BrokerError):
    pass


class NotEmpty(BrokerError):
    pass


class InUse(BrokerError):
    pass


class PreconditionFailed(BrokerError):
    """AMQP 406; str() is the broker's reply text."""


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def node_name():
    return 'rabbit@%s' % socket.gethostname().split('.')[0]


def installed():
    return os.path.isdir(STATE_DIR)


def check_up():
    if os.path.exists(FAULT_DOWN) or not installed():
        raise NodeDown(node_name())


def log_command(prog, argv):
    """One JSON line per invocation in the StackStorm double's command log."""
    st2_version = None
    try:
        with open(ST2_BUILD_INFO) as f:
            st2_version = json.load(f).get('version')
    except (OSError, ValueError):
        pass
    rec = {'time': now_iso(), 'uid': os.getuid(), 'prog': prog, 'argv': [prog] + list(argv),
           'st2_version': st2_version, 'rabbitmq_version': VERSION}
    try:
        os.makedirs(os.path.dirname(CMD_LOG), exist_ok=True)
        with open(CMD_LOG, 'a') as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(json.dumps(rec, sort_keys=True) + '\n')
    except OSError:
        pass


# --------------------------------------------------------------------------- storage

@contextlib.contextmanager
def locked():
    """The broker's lock.  Only root (and so the services, which run as root) can change
    the state; other users get a shared lock and read (writes raise PermissionError)."""
    check_up()
    path = os.path.join(STATE_DIR, '.lock')
    try:
        f = open(path, 'a')
        mode = fcntl.LOCK_EX
    except PermissionError:
        f = open(path)
        mode = fcntl.LOCK_SH
    with f:
        fcntl.flock(f, mode)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _q(s):
    return urllib.parse.quote(s, safe='')


def _path(vhost, name):
    return os.path.join(QUEUES_DIR, _q(vhost), _q(name) + '.json')


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _write(q):
    p = _path(q['vhost'], q['name'])
    os.makedirs(os.path.dirname(p), exist_ok=True)
    tmp = '%s.tmp.%d' % (p, os.getpid())
    with open(tmp, 'w') as f:
        json.dump(q, f, indent=1, sort_keys=True)
        f.write('\n')
    os.rename(tmp, p)


def _remove(q):
    try:
        os.unlink(_path(q['vhost'], q['name']))
    except FileNotFoundError:
        pass


def _start_time(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == 'Z':
        return None
    return fields[19]           # field 22 of stat: start time in clock ticks


def consumer_record(pid, tag):
    return {'pid': pid, 'start': _start_time(pid), 'tag': tag, 'since': now_iso()}


def _prune(q):
    """Drops consumers whose process is gone (connection closed).  Returns False if
    the queue is auto-delete and lost its last consumer (the broker deletes it)."""
    before = len(q.get('consumers', []))
    q['consumers'] = [c for c in q.get('consumers', [])
                      if _start_time(c['pid']) is not None and _start_time(c['pid']) == c['start']]
    try:
        if q.get('auto_delete') and before and not q['consumers']:
            _remove(q)
            return False
        if len(q['consumers']) != before:
            _write(q)
    except PermissionError:
        pass                    # a reader that may not write: the next writer prunes
    return True


def _all(vhost=None):
    out = []
    if not os.path.isdir(QUEUES_DIR):
        return out
    for vdir in sorted(os.listdir(QUEUES_DIR)):
        if vhost is not None and vdir != _q(vhost):
            continue
        d = os.path.join(QUEUES_DIR, vdir)
        for f in sorted(os.listdir(d)):
            if not f.endswith('.json'):
                continue
            q = _read(os.path.join(d, f))
            if q is not None and _prune(q):
                out.append(q)
    return out


def _get(vhost, name):
    q = _read(_path(vhost, name))
    if q is None or not _prune(q):
        return None
    return q


# --------------------------------------------------------------------------- AMQP types

def amqp_type(v):
    if isinstance(v, bool):
        return 'bool'
    if isinstance(v, int):
        return 'signedint' if -2 ** 31 <= v < 2 ** 31 else 'long'
    if isinstance(v, float):
        return 'double'
    if isinstance(v, dict):
        return 'table'
    if isinstance(v, list):
        return 'array'
    return 'longstr'


def _fmt_value(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    return str(v)


def _describe(v):
    if v is None:
        return 'none'
    return "the value '%s' of type '%s'" % (_fmt_value(v), amqp_type(v))


def _resource(vhost, name):
    return "queue '%s' in vhost '%s'" % (name, vhost)


def _check_equivalent(q, durable, auto_delete, exclusive, arguments):
    """rabbit_amqqueue:assert_equivalence/5 with rabbit_misc's messages."""
    res = _resource(q['vhost'], q['name'])
    for field, want in (('durable', durable), ('auto_delete', auto_delete),
                        ('exclusive', exclusive)):
        have = bool(q.get(field))
        if have != want:
            raise PreconditionFailed(
                "PRECONDITION_FAILED - inequivalent arg '%s' for %s: received '%s' but "
                "current is '%s'" % (field, res, _fmt_value(want), _fmt_value(have)))
    current = q.get('arguments') or {}
    for key in EQUIVALENCE_ARGS:
        new, old = arguments.get(key), current.get(key)
        if new != old or (new is not None and amqp_type(new) != amqp_type(old)):
            raise PreconditionFailed(
                "PRECONDITION_FAILED - inequivalent arg '%s' for %s: received %s but "
                "current is %s" % (key, res, _describe(new), _describe(old)))


# --------------------------------------------------------------------------- operations

def list_queues(vhost='/'):
    with locked():
        return _all(vhost)


def get_queue(name, vhost='/'):
    with locked():
        return _get(vhost, name)


def declare(name, vhost='/', durable=True, auto_delete=False, exclusive=False, arguments=None,
            bindings=(), consumer=None, declared_by=None):
    """queue.declare (+ queue.bind for each (exchange, routing_key), + basic.consume when
    `consumer` is a consumer_record).  Raises PreconditionFailed if the queue exists with
    other properties or arguments: nothing is changed then."""
    arguments = dict(arguments or {})
    with locked():
        q = _get(vhost, name)
        if q is None:
            q = {'name': name, 'vhost': vhost, 'durable': bool(durable),
                 'auto_delete': bool(auto_delete), 'exclusive': bool(exclusive),
                 'arguments': arguments, 'bindings': [], 'messages': [], 'consumers': [],
                 'created_at': now_iso(), 'declared_by': declared_by}
        else:
            _check_equivalent(q, bool(durable), bool(auto_delete), bool(exclusive), arguments)
        for exchange, rk in bindings:
            b = {'source': exchange, 'routing_key': rk}
            if b not in q['bindings']:
                q['bindings'].append(b)
        if consumer is not None:
            q['consumers'] = [c for c in q['consumers'] if c['pid'] != consumer['pid']]
            q['consumers'].append(consumer)
        _write(q)
        return q


def delete(name, vhost='/', if_empty=False, if_unused=False):
    """queue.delete: returns the number of ready messages dropped with it."""
    with locked():
        q = _get(vhost, name)
        if q is None:
            raise NotFound(_resource(vhost, name))
        if if_empty and q['messages']:
            raise NotEmpty(_resource(vhost, name))
        if if_unused and q['consumers']:
            raise InUse(_resource(vhost, name))
        _remove(q)
        return len(q['messages'])


def purge(name, vhost='/'):
    with locked():
        q = _get(vhost, name)
        if q is None:
            raise NotFound(_resource(vhost, name))
        n = len(q['messages'])
        q['messages'] = []
        _write(q)
        return n


def _topic_match(pattern, key):
    def m(p, k):
        if not p:
            return not k
        if p[0] == '#':
            return any(m(p[1:], k[i:]) for i in range(len(k) + 1))
        if not k:
            return False
        return (p[0] == '*' or p[0] == k[0]) and m(p[1:], k[1:])
    return m(pattern.split('.'), key.split('.'))


def publish(exchange, routing_key, body, vhost='/'):
    """basic.publish to a topic exchange: the message is enqueued on every queue with a
    matching binding.  Returns the names of the queues it was routed to."""
    routed = []
    with locked():
        for q in _all(vhost):
            if any(b['source'] == exchange and _topic_match(b['routing_key'], routing_key)
                   for b in q['bindings']):
                q['messages'].append({'exchange': exchange, 'routing_key': routing_key,
                                      'body': body, 'published_at': now_iso()})
                _write(q)
                routed.append(q['name'])
    return routed


def fetch(name, consumer, vhost='/', limit=100):
    """Deliveries to a consumer (auto-ack).  Raises NotFound when the queue was deleted:
    the broker has cancelled the consumer (basic.cancel)."""
    with locked():
        q = _get(vhost, name)
        if q is None or not any(c['pid'] == consumer['pid'] for c in q['consumers']):
            raise NotFound(_resource(vhost, name))
        out, q['messages'] = q['messages'][:limit], q['messages'][limit:]
        if out:
            _write(q)
        return out
