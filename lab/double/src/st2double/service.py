"""One long-running StackStorm service process (st2api, st2actionrunner, ...).

All modules are imported at start: a process started before a package upgrade
keeps running the OLD code (and keeps writing the old formats) until restarted,
like the real services (StackStorm/st2 #2438)."""
import argparse
import os
import signal
import sys
import time

from . import amqp
from . import common as c
from . import content
from . import executions

# st2.conf section holding each service's `logging = ...` option
SECTIONS = {
    'st2api': 'api', 'st2auth': 'auth', 'st2stream': 'stream',
    'st2actionrunner': 'actionrunner', 'st2notifier': 'notifier',
    'st2resultstracker': 'resultstracker', 'st2rulesengine': 'rulesengine',
    'st2sensorcontainer': 'sensorcontainer', 'st2garbagecollector': 'garbagecollector',
    'st2workflowengine': 'workflow_engine', 'st2timersengine': 'timersengine',
    'st2scheduler': 'scheduler', 'st2chatops': None,
}
# Services whose logging option has no usable default: the upgrade notes of 2.8 and
# 2.9 tell users to add these sections to st2.conf, because the built-in default is
# the relative development path `conf/logging.<name>.conf`.
STRICT_LOGGING = {'st2workflowengine': 'workflowengine', 'st2timersengine': 'timersengine'}


class Service:
    def __init__(self, name, config_file):
        self.name = name
        self.config_file = config_file
        self.stopping = False
        self.consumer = amqp.Consumer(name)
        self.retry_at = 0.0
        self.retry_wait = 0.0

    def pidfile(self):
        return os.path.join(c.RUN_DIR, '%s.pid' % self.name)

    def fail(self, msg):
        c.service_log(self.name, msg, 'ERROR')
        sys.stderr.write('%s: ERROR: %s\n' % (self.name, msg))
        c.audit(self.name, 'service_failed', error=msg)
        sys.exit(1)

    def check_config(self):
        cp = c.load_config(self.config_file)
        if self.name in STRICT_LOGGING:
            section = SECTIONS[self.name]
            path = c.conf_get(cp, section, 'logging',
                              'conf/logging.%s.conf' % STRICT_LOGGING[self.name])
            if not os.path.isfile(path):
                self.fail("Failed to set up logging: [Errno 2] No such file or directory: '%s' "
                          "(is [%s] logging set in %s?)" % (path, section, self.config_file))
        for name, _, _, old_names, removal in c.database_options() or []:
            # oslo.config warns when a deprecated name or an option marked for removal is set;
            # 3.9 reads `ssl`/`ssl_ca_certs` as `tls`/`tls_ca_file`, and never uses the key and
            # certificate files (common.database_options)
            for old in old_names:
                if c.conf_get(cp, 'database', old) is not None:
                    c.service_log(self.name, 'Option [database] %s is deprecated: use %s'
                                  % (old, name), 'WARNING')
            if removal and c.conf_get(cp, 'database', name) is not None:
                ignored = name in ('ssl_keyfile', 'ssl_certfile')
                c.service_log(self.name, 'Option [database] %s is deprecated for removal%s'
                              % (name, ': ignored, set tls_certificate_key_file' if ignored
                                 else ''), 'WARNING')

    def on_term(self, signum, frame):
        if c.fault('stop-hang-%s' % self.name):
            c.service_log(self.name, 'SIGTERM received but the process is hung (fault)',
                          'WARNING')
            return
        self.stopping = True

    def run(self):
        if c.fault('service-fail-%s' % self.name, once=False):
            self.fail('Failed to start (fault service-fail-%s)' % self.name)
        self.check_config()
        try:
            c.check_db()
        except c.DBError as e:
            self.fail(str(e))
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        signal.signal(signal.SIGUSR1, lambda s, f: c.service_log(self.name, 'Reopening logs'))
        os.makedirs(c.RUN_DIR, exist_ok=True)
        with open(self.pidfile(), 'w') as f:
            f.write('%d\n' % os.getpid())
        c.service_log(self.name, 'Starting %s (st2 %s)' % (self.name, c.VERSION))
        c.audit(self.name, 'service_started')
        if self.name == 'st2actionrunner' and not c.at_least('2.1'):
            with c.db_lock():       # before 2.1 runners were bootstrapped at start-up
                content.register_runners()
        self.amqp_connect()
        try:
            while not self.stopping:
                if self.retry_at and time.time() >= self.retry_at:
                    self.amqp_connect()
                busy = self.tick()
                time.sleep(0.05 if busy else 0.25)
        finally:
            c.audit(self.name, 'service_stopped')
            c.service_log(self.name, 'Stopped %s' % self.name)
            try:
                with open(self.pidfile()) as f:
                    if f.read().strip() == str(os.getpid()):
                        os.unlink(self.pidfile())
            except OSError:
                pass

    # ------------------------------------------------------------------ AMQP (kombu)

    def amqp_connect(self):
        """Declare + consume this service's queues (only when the RabbitMQ double is
        installed).  Failures are handled like kombu's ConsumerMixin: a warning, a retry
        after 2, 4, ... 30 s, the process stays up and consumes nothing meanwhile."""
        ok, error = self.consumer.connect()
        if ok:
            if self.retry_at:
                c.service_log(self.name, 'Connected to amqp://guest:**@127.0.0.1:5672//')
            self.retry_at = self.retry_wait = 0.0
            return
        self.amqp_lost(error)

    def amqp_lost(self, error):
        self.retry_wait = min(30.0, self.retry_wait + 2.0)
        self.retry_at = time.time() + self.retry_wait
        c.service_log(self.name, 'Connection to broker lost, trying to re-establish connection...'
                                 ' %s (retrying in %.0f s)' % (error, self.retry_wait), 'WARNING')

    def publish(self, doc):
        if doc is None:
            return
        error = amqp.publish_update()
        if error:
            c.service_log(self.name, 'Failed to publish the update of %s: %s'
                          % (doc['_id'], error), 'ERROR')

    def consume(self):
        """st2notifier: take the updates delivered to its queue (its audit lines are written by
        the action runner, below: the queue only counts messages)."""
        delivered, error = self.consumer.fetch()
        if error:
            self.amqp_lost(error)
        return delivered > 0

    def tick(self):
        try:
            if self.consumer.ready:
                return self.consume()
            if self.name == 'st2scheduler':
                docs = executions.schedule_requested()
                for d in docs:
                    self.publish(d)
                return bool(docs)
            if self.name == 'st2actionrunner':
                doc = executions.claim_scheduled()
                if doc is None:
                    return False
                self.publish(doc)
                c.audit(self.name, 'execution_started', execution=doc['_id'],
                        action=doc['action']['ref'], user=doc.get('context', {}).get('user'))
                try:
                    status, result = executions.execute(doc)
                except Exception as e:  # noqa: BLE001
                    status, result = 'failed', {'error': repr(e)}
                self.publish(executions.finish(doc, status, result))
                c.audit(self.name, 'execution_finished', execution=doc['_id'],
                        action=doc['action']['ref'], status=status)
                # The notifier's audit line, written here: the RabbitMQ fake carries counts,
                # not the updates themselves.
                if c.service_running('st2notifier'):
                    c.audit('st2notifier', 'notify', execution=doc['_id'], status=status)
                return True
        except c.DBError as e:
            c.service_log(self.name, str(e), 'ERROR')
        return False


def main(name):
    p = argparse.ArgumentParser(prog=name)
    p.add_argument('--config-file', default=c.ST2_CONF)
    a, _ = p.parse_known_args()
    Service(name, a.config_file).run()
