"""`st2ctl` and `st2-register-content` of the double."""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from . import common as c
from . import content

STOP_WAIT = 8.0


# st2ctl's component list and wording are facts of each release, read from st2's own script at
# the tag (st2 <tag>:st2common/bin/st2ctl): COMPONENTS= and print_usage/getpids' echo lines.
#   v1.4.0  no st2chatops; mistral shown by `status` as mistral-server + mistral-api
#   v1.5.0  st2chatops listed, installed or not (status says "st2chatops is not running.")
#   v2.8-2.10 st2workflowengine, st2timersengine, st2scheduler (order as in v3.0.1)
#   v3.0.1  mistral dropped when /opt/stackstorm/st2/bin/python is Python 3; status labels
#           mistral-server + mistral.api; status greps "(C\.wsgi)|(bin/C)|(hubot .*C)"
#           (before 3.0: a plain `grep C`)
#   v3.3.0  no mistral;  v3.4.0 no st2resultstracker
#   v3.9.0  `ps axww` instead of `ps ax` (no change in output here: the double reads /proc)
def components():
    comps = ['st2actionrunner', 'st2api', 'st2stream', 'st2auth', 'st2garbagecollector',
             'st2notifier']
    if not c.at_least('3.4'):
        comps.append('st2resultstracker')
    comps += ['st2rulesengine', 'st2sensorcontainer']
    if c.at_least('1.5'):
        comps.append('st2chatops')
    if c.at_least('2.9'):
        comps.append('st2timersengine')
    if c.at_least('2.8'):
        comps.append('st2workflowengine')
    if c.at_least('2.10'):
        comps.append('st2scheduler')
    if not c.at_least('3.3') and c.py2():
        comps.append('mistral')
    return comps


def installed(svc):
    """st2ctl lists components whether installed or not; start/stop only touch what is there."""
    if svc == 'st2chatops':
        return os.path.exists(c.CHATOPS_DIR + '/bin/hubot')
    if svc == 'mistral':
        return os.path.exists(c.MISTRAL_INIT)
    return True


def allowed_reload_flags():
    return [f for f, _, since in RELOAD_FLAGS if c.at_least(since)]


# (flag, description, first release whose st2ctl accepts it), in print_usage's order.
# Sources: st2 v1.4.0, v1.5.0, v1.6.0, v2.1.0, v3.4.0 :st2common/bin/st2ctl.
RELOAD_FLAGS = [
    ('--register-all', 'Register all.', '1.0'),
    ('--register-triggers', 'Register all triggers.', '1.5'),
    ('--register-sensors', 'Register all sensors.', '1.0'),
    ('--register-rules', 'Register all rules.', '1.0'),
    ('--register-runners', 'Register all runners.', '2.1'),
    ('--register-actions', 'Register all actions.', '1.0'),
    ('--register-aliases', 'Register all aliases.', '1.0'),
    ('--register-policies', 'Register all policies.', '1.0'),
    ('--register-configs', 'Register all configuration files.', '1.5'),
    ('--register-setup-virtualenvs',
     'Create Python virtual environments for all the registered packs.', '1.0'),
    ('--register-recreate-virtualenvs',
     '(Delete and re-)create Python virtual environments for all the registered packs.', '3.4'),
    ('--register-fail-on-failure', 'Exit with non-zero if some resource registration fails. '
     'Deprecated. This is now a default behavior.', '1.5'),
    ('--register-no-fail-on-failure',
     "Don't exit with non-zero if some resource registration fails.", '1.6'),
    ('--verbose', 'Output additional debug and informational messages.', '1.0'),
]


def default_reload_flags():
    flags = ['--register-actions', '--register-aliases', '--register-sensors']
    if c.at_least('1.5'):
        flags += ['--register-triggers', '--register-configs']
    if c.at_least('2.0'):
        flags += ['--register-rules']       # 2.0: st2ctl reload registers rules too
    if c.at_least('2.1'):
        flags = ['--register-runners'] + flags
    return flags


def print_usage():
    comps = ' '.join(components())
    # 3.0-3.2 print the reopen-log-files list as ${COMPONENTS/mistral} (leaves a trailing space)
    reopen = comps.replace('mistral', '') if c.at_least('3.0') else comps
    width = 32 if c.at_least('3.4') else 30
    print('Usage: st2ctl {start, stop, restart, status}')
    print()
    print('Usage: st2ctl {restart-component}')
    print('positional arguments:')
    print('  component           Name of the st2 service to restart.')
    print('                      %s' % comps)
    print()
    print('Usage: st2ctl {reopen-log-files}')
    print('positional arguments:')
    print('  component           Name of the st2 service to reopen the log files for.')
    print('                      %s' % reopen)
    print()
    print('Usage: st2ctl {reload, clean}')
    print('optional arguments:')
    for f, text, since in RELOAD_FLAGS:
        if c.at_least(since):
            print('  %s%s' % (f.ljust(width), text))
    print()
    print('Most commands require elevated privileges.')


def must_be_root():
    if os.getuid() != 0:
        print('Please run this command with root privileges')
        sys.exit(1)


def service(name, action):
    if shutil.which('service'):
        return subprocess.call(['service', name, action])
    return subprocess.call(['/etc/init.d/%s' % name, action])


def service_argv(svc):
    if svc == 'st2chatops':
        # Real st2chatops (from its 1.5 packages, st2chatops PR #45) runs `hubot  st2chatops`:
        # ps shows `node …/node_modules/.bin/coffee …/node_modules/.bin/hubot  st2chatops`
        # (st2 PR #4248), which st2ctl's `hubot .*st2chatops` finds.
        return ['/usr/bin/python3', c.CHATOPS_DIR + '/bin/hubot', '', 'st2chatops']
    # `<venv>/bin/python3 <venv>/bin/<svc> --config-file <workdir>/st2.conf` in the 3.8.1 and
    # 3.9.0 recordings (20-ps-args-st2-services.txt); `python` where st2 ran on Python 2.
    py = 'python' if c.py2() else 'python3'
    return ['%s/%s' % (c.ST2_BIN, py), '%s/%s' % (c.ST2_BIN, svc), '--config-file', c.ST2_CONF]


def start_one(svc):
    if not installed(svc):
        return
    if svc == 'mistral':
        service('mistral', 'start')
        service('mistral-api', 'start')
        return
    if c.service_pids(svc):
        return
    os.makedirs(c.LOG_DIR, exist_ok=True)
    os.makedirs(c.RUN_DIR, exist_ok=True)
    argv = service_argv(svc)
    with open(os.path.join(c.LOG_DIR, '%s.stdout.log' % svc), 'a') as out:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True, close_fds=True, cwd='/')


def stop_many(svcs):
    svcs = [s for s in svcs if installed(s)]
    if 'mistral' in svcs:
        service('mistral-api', 'stop')
        service('mistral', 'stop')
    waiting = {}
    for svc in svcs:
        if svc == 'mistral':
            continue
        for pid in c.service_pids(svc):
            try:
                os.kill(pid, signal.SIGTERM)
                waiting[pid] = svc
            except ProcessLookupError:
                pass
    deadline = time.time() + STOP_WAIT
    while waiting and time.time() < deadline:
        waiting = {p: s for p, s in waiting.items() if c.pid_alive(p)}
        if waiting:
            time.sleep(0.1)
    for pid, svc in sorted(waiting.items()):
        print('%s did not stop after SIGTERM (PID: %d)' % (svc, pid))
        try:
            os.unlink(os.path.join(c.RUN_DIR, '%s.pid' % svc))
        except OSError:
            pass


def status_pids(label):
    """The pids st2ctl's getpids finds for a label: `ps ax | grep -v grep | grep -v st2ctl |` then
    `grep LABEL` before 3.0, `grep -E "(LABEL\.wsgi)|(bin/LABEL)|(hubot .*LABEL)"` from 3.0
    (st2 v2.2.0 and v3.0.1 :st2common/bin/st2ctl), over the `PID ... COMMAND` lines of ps."""
    if c.at_least('3.0'):
        rx = re.compile('(%s\\.wsgi)|(bin/%s)|(hubot .*%s)' % (label, label, label))
        match = rx.search
    else:
        match = lambda line: label in line     # noqa: E731
    pids = []
    for pid, argv in sorted(c.proc_cmdlines().items()):
        line = '%d %s' % (pid, ' '.join(argv))
        if pid == os.getpid() or 'grep' in line or 'st2ctl' in line:
            continue
        if match(line):
            pids.append(pid)
    return pids


def status_labels():
    labels = []
    for svc in components():
        if svc == 'mistral':
            labels += ['mistral-server', 'mistral.api' if c.at_least('3.0') else 'mistral-api']
        else:
            labels.append(svc)
    return labels


def getpids():
    print('##### st2 components status #####')
    for label in status_labels():
        pids = status_pids(label)
        if pids:
            for p in pids:
                print('%s PID: %d' % (label, p))
        else:
            print('%s is not running.' % label)


def validate_component(comp):
    if not comp:
        print('\033[31mError: Component is required! \033[0m\n')
        print_usage()
        sys.exit(1)
    if comp not in components():
        print('\033[31mError: Invalid component provided: %s \033[0m\n' % comp)
        print_usage()
        sys.exit(1)


def reload(flags):
    allowed = allowed_reload_flags()
    for f in flags:
        if f not in allowed:
            print('\033[31mError: Invalid flag provided: %s \033[0m\n' % f)
            print_usage()
            return 1
        if f in ('--register-setup-virtualenvs', '--register-recreate-virtualenvs') and \
                os.getuid() != 0:
            print('\033[31mError: "sudo" required for: %s \033[0m\n' % f)
            return 1
    if not flags or flags == ['--verbose']:
        flags = default_reload_flags() + flags
    # st2 v2.5.0 st2ctl added the --config-file to this line
    shown = ['--config-file', c.ST2_CONF] + flags if c.at_least('2.5') else flags
    print('Registering content...[flags = %s]' % ' '.join(shown))
    sys.stdout.flush()
    return subprocess.call([c.ST2_BIN + '/st2-register-content', '--config-file', c.ST2_CONF]
                           + flags)


def start_all():
    """Starts every component, then prints the status as st2ctl does after a start."""
    for svc in components():
        start_one(svc)
    time.sleep(0.7)
    getpids()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    c.log_command('st2ctl', ['st2ctl'] + argv)
    cmd = argv[0] if argv else ''
    if cmd == 'start':
        must_be_root()
        start_all()
    elif cmd == 'stop':
        must_be_root()
        stop_many(components())
    elif cmd == 'restart':
        must_be_root()
        stop_many(components())
        time.sleep(1)
        start_all()
    elif cmd == 'restart-component':
        must_be_root()
        comp = argv[1] if len(argv) > 1 else ''
        validate_component(comp)
        stop_many([comp])
        start_one(comp)
        time.sleep(0.5)
    elif cmd == 'reopen-log-files':
        must_be_root()
        comp = argv[1] if len(argv) > 1 else ''
        validate_component(comp)
        if comp == 'mistral':
            print('Sorry, Mistral does not yet support gracefully reopening log files')
            return 1
        pids = c.service_pids(comp)
        if not pids:
            print('%s is not running' % comp)
            return 1
        for p in pids:
            print('Sending SIGUSR1 to %s PID: %d' % (comp, p))
            os.kill(p, signal.SIGUSR1)
        time.sleep(1)
        getpids()
    elif cmd == 'reload':
        rc = reload(argv[1:])
        getpids()
        return rc
    elif cmd == 'clean':
        must_be_root()
        print('This will drop the database and delete all logs.  Are you sure [y/n]?')
        if sys.stdin.readline().strip() != 'y':
            return 0
        stop_many(components())
        shutil.rmtree(c.DB_DIR, ignore_errors=True)
        for f in os.listdir(c.LOG_DIR) if os.path.isdir(c.LOG_DIR) else []:
            p = os.path.join(c.LOG_DIR, f)
            if os.path.isfile(p):
                os.unlink(p)
        reload(argv[1:])
        start_all()
    elif cmd == 'status':
        getpids()
    else:
        print_usage()
        return 1
    return 0


# --------------------------------------------------------------------------- register

def _log(msg, level='INFO'):
    # oslo.log's format as st2-register-content prints it: `2026-11-27 20:28:13,692 INFO [-] msg`
    now = time.time()
    print('%s,%03d %s [-] %s' % (time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now)),
                                 int(now * 1000) % 1000, level, msg))
    sys.stdout.flush()


# What st2-register-content registers and how it says so, per release (st2 <tag>:
# st2common/st2common/content/bootstrap.py, register_content() and register_<kind>()):
# --register-all order triggers sensors runners actions rules aliases policies configs; triggers
# and configs from 1.5 (v1.5.0), runners from 2.1 (v2.1.0); "N <kind> had their metadata
# overridden." after sensors, actions, rules, aliases from 3.7 (v3.7.0); policies print policy types
# first. st2common/st2common/models/db/__init__.py: "Successfully connected …" from 2.8 (v2.8.0).
REGISTER_KINDS = [('triggers', '1.5'), ('sensors', '1.0'), ('runners', '2.1'), ('actions', '1.0'),
                  ('rules', '1.0'), ('aliases', '1.0'), ('policies', '1.0'), ('configs', '1.5')]
OVERRIDABLE = ('sensors', 'actions', 'rules', 'aliases')


def _section(title):
    _log('=========================================================')
    _log(('############## Registering %s ' % title).ljust(57, '#'))
    _log('=========================================================')


def _register_kind(kind, failures):
    """Registers one kind like bootstrap.register_<kind>(): header, work, count lines."""
    if kind == 'policies':
        _section('policy types')
        _log('Registered %d policy types.' % 0)
    _section(kind)
    n = 0
    if kind == 'runners':
        n = content.register_runners()
    elif kind == 'actions':
        for d in content.all_pack_dirs():
            try:
                n += content.register_pack(d)[1]
            except (OSError, ValueError) as e:
                failures.append(d)
                _log('Failed to register pack "%s": %s' % (d, e), 'WARNING')
    _log('Registered %d %s.' % (n, kind))
    if kind in OVERRIDABLE and c.at_least('3.7'):
        _log('0 %s had their metadata overridden.' % kind)


def register_main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    c.log_command('st2-register-content', ['st2-register-content'] + argv)
    p = argparse.ArgumentParser(prog='st2-register-content')
    p.add_argument('--config-file')
    for f in allowed_reload_flags():
        p.add_argument(f, action='store_true')
    a = p.parse_args(argv)
    fail_on_failure = getattr(a, 'register_fail_on_failure', False) or (
        c.at_least('2.5') and not getattr(a, 'register_no_fail_on_failure', False))
    cp = c.load_config(a.config_file or c.ST2_CONF)
    target = 'database "st2" @ "127.0.0.1:27017" as user "%s".' % (
        c.conf_get(cp, 'database', 'username') or None)
    _log('Connecting to %s' % target)
    try:
        c.check_db()
    except c.DBError as e:
        _log(str(e), 'CRITICAL')
        return 1
    if c.at_least('2.8'):
        _log('Successfully connected to %s' % target)
    kinds = [k for k, since in REGISTER_KINDS if c.at_least(since)]
    if a.register_all:
        todo = kinds
    else:
        todo = [k for k in kinds if getattr(a, 'register_%s' % k, False)]
        # actions need their runners (bootstrap.register_content, "Otherwise, actions will complain")
        if 'actions' in todo and 'runners' in kinds and 'runners' not in todo:
            todo.insert(todo.index('actions'), 'runners')
    failures = []
    with c.db_lock():
        for kind in todo:
            _register_kind(kind, failures)
        recreate = getattr(a, 'register_recreate_virtualenvs', False)
        if a.register_setup_virtualenvs or recreate:
            _log('=========================================================')
            _log('########### Setting up virtual environments #############')
            _log('=========================================================')
            n = 0
            for d in content.all_pack_dirs():
                ref = content.pack_meta(d)['ref']
                if content.setup_virtualenv(ref, recreate=recreate):
                    n += 1
                    _log('Setting up virtualenv for pack "%s" (Python %s)' % (ref, c.PYTHON))
            _log('Setup virtualenv for %d pack(s).' % n)
    if failures and fail_on_failure:
        return 1
    return 0
