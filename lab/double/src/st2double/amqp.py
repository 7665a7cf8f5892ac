"""The StackStorm services' AMQP side (kombu in the real code), talking to the RabbitMQ
double (package rabbitmq-server of this lab) when it is installed.  Without it every
function here is a no-op and the services behave as they always did in the double.

Modelled: the notifier's work queue, the one an upgrade has to care about.
  * st2notifier < 2.3 consumes `st2.notifiers.work`, bound to the `st2.liveaction`
    topic exchange with routing key `update`;
  * st2notifier 2.3+ consumes `st2.notifiers.execution.work`, bound to `st2.execution`
    / `update` (StackStorm/st2 #3496).  Nothing consumes `st2.notifiers.work` any more,
    but the queue stays bound: every live action update is still routed into it and it
    grows without bound until someone deletes it (StackStorm/st2 #3622, the 2.3
    upgrade notes).  Notifications still in it at upgrade time are never sent.
  * every status change of an execution publishes an `update` to both exchanges.
Queues are declared as kombu does (durable, not auto-delete, no arguments); a queue of
the same name with other properties or arguments makes the declare fail with the
broker's PRECONDITION_FAILED text, which kombu's ConsumerMixin treats like a lost
connection: warning, retry, the process stays up without consuming."""
import os
import sys

from . import common as c

BROKER_LIB = '/usr/lib/rabbitmq-double'
UPDATE_RK = 'update'


def broker():
    """The broker module of the RabbitMQ double, or None when it is not installed."""
    if not os.path.isfile(os.path.join(BROKER_LIB, 'rmqdouble', 'broker.py')):
        return None
    if BROKER_LIB not in sys.path:
        sys.path.insert(0, BROKER_LIB)
    try:
        from rmqdouble import broker as b
    except ImportError:
        return None
    return b if b.installed() else None


def consumed_queues(svc):
    """(queue, exchange, routing key) a service of this st2 version consumes."""
    if svc == 'st2notifier':
        if c.at_least('2.3'):
            return [('st2.notifiers.execution.work', 'st2.execution', UPDATE_RK)]
        return [('st2.notifiers.work', 'st2.liveaction', UPDATE_RK)]
    return []


def connection_error_text(e):
    b = broker()
    if b is not None and isinstance(e, b.PreconditionFailed):
        return 'amqp.exceptions.PreconditionFailed: Queue.declare: (406) %s' % e
    return ('[Errno 111] Connection refused (Cannot connect to '
            'amqp://guest:**@127.0.0.1:5672//)')


class Consumer:
    """One service's consumers (kombu ConsumerMixin): declare + consume, and re-declare
    after a broker-side cancel (the queue was deleted under it)."""

    def __init__(self, svc):
        self.svc = svc
        self.queues = consumed_queues(svc)
        self.ready = False
        self.record = None

    def connect(self):
        """True when every queue is declared and consumed.  Errors are returned as the
        text kombu would log; the caller retries later."""
        b = broker()
        if b is None or not self.queues:
            self.ready = False
            return True, None
        self.record = b.consumer_record(os.getpid(), '%s-%d' % (self.svc, os.getpid()))
        try:
            for name, exchange, rk in self.queues:
                b.declare(name, durable=True, auto_delete=False, exclusive=False,
                          arguments=None, bindings=[(exchange, rk)], consumer=self.record,
                          declared_by='%s (st2 %s) pid %d' % (self.svc, c.VERSION, os.getpid()))
        except (b.NodeDown, b.PreconditionFailed) as e:
            self.ready = False
            return False, connection_error_text(e)
        self.ready = True
        return True, None

    def fetch(self):
        """Messages delivered since the last call; ([], error) when the consumer was
        cancelled or the broker went away (the caller reconnects)."""
        b = broker()
        if b is None or not self.ready:
            return [], None
        out = []
        for name, _, _ in self.queues:
            try:
                out += b.fetch(name, self.record)
            except b.NotFound:
                self.ready = False
                return out, 'Consumer cancelled by broker: queue %s was deleted' % name
            except b.NodeDown as e:
                self.ready = False
                return out, connection_error_text(e)
        return out, None


def publish_update(doc):
    """LiveActionPublisher.publish_update + ActionExecutionPublisher.publish_update.
    Returns an error text when the broker is down (the update is lost), else None."""
    b = broker()
    if b is None:
        return None
    body = {'id': doc['_id'], 'status': doc.get('status'),
            'action': (doc.get('action') or {}).get('ref')}
    try:
        b.publish('st2.liveaction', UPDATE_RK, body)
        b.publish('st2.execution', UPDATE_RK, body)
    except b.NodeDown as e:
        return connection_error_text(e)
    return None
