"""The StackStorm services' side of RabbitMQ (kombu in the real code), on the lab's RabbitMQ fake
(package rabbitmq-server: lab/double/src/rabbitmq/rmqfake.py) when it is installed.  Without it
every function here is a no-op and the services behave as they always did in the double.

Modelled: the notifier's work queue, the one an upgrade has to care about.
  * st2notifier < 2.3 consumes `st2.notifiers.work`; 2.3+ consumes `st2.notifiers.execution.work`
    (StackStorm/st2 #3496).  Nothing consumes `st2.notifiers.work` any more, but it stays bound:
    every update is still routed into it and it grows until someone deletes it (StackStorm/st2
    #3622, the 2.3 upgrade notes).  Notifications still in it at upgrade time are never sent.
  * every status change of an execution publishes an update that reaches both queues (when they
    exist: a queue exists once a notifier declared it, until it is deleted);
  * a consumer whose queue was deleted is cancelled: kombu's ConsumerMixin logs it, reconnects and
    declares the queue again (so deleting the old queue while a 2.2 notifier runs brings it back)."""
import os
import sys

from . import common as c

FAKE_LIB = '/usr/lib/rabbitmq-double'
NOTIFIER_QUEUES = ('st2.notifiers.work', 'st2.notifiers.execution.work')
REFUSED = '[Errno 111] Connection refused (Cannot connect to amqp://guest:**@127.0.0.1:5672//)'


def fake():
    """The RabbitMQ fake's module, or None when rabbitmq-server is not installed."""
    if not os.path.isfile(os.path.join(FAKE_LIB, 'rmqfake.py')):
        return None
    if FAKE_LIB not in sys.path:
        sys.path.insert(0, FAKE_LIB)
    try:
        import rmqfake
    except ImportError:
        return None
    return rmqfake if rmqfake.installed() else None


class Consumer:
    """One service's consumer (kombu ConsumerMixin): only st2notifier consumes a queue here."""

    def __init__(self, svc):
        self.queue = None
        if svc == 'st2notifier':
            self.queue = NOTIFIER_QUEUES[1] if c.at_least('2.3') else NOTIFIER_QUEUES[0]
        self.ready = False

    def connect(self):
        """(True, None) when the queue is declared and consumed (or there is none); else
        (False, the text kombu would log): the caller retries later."""
        f = fake()
        self.ready = False
        if f is None or self.queue is None:
            return True, None
        try:
            f.declare(self.queue)
        except f.NodeDown:
            return False, REFUSED
        self.ready = True
        return True, None

    def fetch(self):
        """(messages delivered since the last call, None), or (0, error) when the consumer was
        cancelled or the broker went away (the caller reconnects)."""
        f = fake()
        if f is None or not self.ready:
            return 0, None
        try:
            n = f.drain(self.queue)
        except f.NodeDown:
            self.ready = False
            return 0, REFUSED
        if n is None:
            self.ready = False
            return 0, 'Consumer cancelled by broker: queue %s was deleted' % self.queue
        return n, None


def publish_update():
    """LiveActionPublisher/ActionExecutionPublisher.publish_update: an error text when the broker
    is down (the update is lost), else None."""
    f = fake()
    if f is None:
        return None
    try:
        f.publish(NOTIFIER_QUEUES)
    except f.NodeDown:
        return REFUSED
    return None
