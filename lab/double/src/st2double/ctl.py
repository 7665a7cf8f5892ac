"""`st2ctl` and `st2-register-content` of the double."""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

from . import common as c
from . import content

STOP_WAIT = 8.0


def components():
    comps = ['st2actionrunner', 'st2api', 'st2stream', 'st2auth', 'st2garbagecollector',
             'st2notifier']
    if not c.at_least('3.5'):
        comps.append('st2resultstracker')
    comps += ['st2rulesengine', 'st2sensorcontainer']
    if c.at_least('1.5') and os.path.exists(c.CHATOPS_DIR + '/bin/hubot'):
        comps.append('st2chatops')
    if c.at_least('2.9'):
        comps.append('st2timersengine')
    if c.at_least('2.8'):
        comps.append('st2workflowengine')
    if c.at_least('2.10'):
        comps.append('st2scheduler')
    if mistral_managed():
        comps.append('mistral')
    return comps


def mistral_managed():
    return not c.at_least('3.3') and os.path.exists(c.MISTRAL_INIT)


def allowed_reload_flags():
    flags = ['--register-all', '--register-actions', '--register-aliases',
             '--register-policies', '--register-rules', '--register-sensors',
             '--register-setup-virtualenvs', '--verbose']
    if c.at_least('1.5'):
        flags += ['--register-triggers', '--register-configs', '--register-fail-on-failure']
    if c.at_least('2.1'):
        flags += ['--register-runners']
    if c.at_least('2.5'):
        flags += ['--register-no-fail-on-failure']
    if c.at_least('3.4'):
        flags += ['--register-recreate-virtualenvs']
    return flags


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
    comps = ' '.join(components()) or 'st2api'
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
    print()
    print('Usage: st2ctl {reload, clean}')
    print('optional arguments:')
    for f in allowed_reload_flags():
        print('  %s' % f)
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


def start_one(svc):
    if svc == 'mistral':
        service('mistral', 'start')
        service('mistral-api', 'start')
        return
    if c.service_pids(svc):
        return
    os.makedirs(c.LOG_DIR, exist_ok=True)
    os.makedirs(c.RUN_DIR, exist_ok=True)
    if svc == 'st2chatops':
        argv = ['/usr/bin/python3', c.CHATOPS_DIR + '/bin/hubot', '--name', 'stanley',
                '--adapter', 'shell']
    else:
        argv = [c.ST2_BIN + '/python', '%s/%s' % (c.ST2_BIN, svc), '--config-file', c.ST2_CONF]
    with open(os.path.join(c.LOG_DIR, '%s.stdout.log' % svc), 'a') as out:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True, close_fds=True, cwd='/')


def stop_many(svcs):
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


def mistral_pids():
    """(engine pids, api pids) of Mistral processes (Debian's real mistral-server)."""
    eng, api = [], []
    for pid, argv in c.proc_cmdlines().items():
        if not any(x.endswith('bin/mistral-server') for x in argv[:2]):
            continue
        srv = argv[argv.index('--server') + 1] if '--server' in argv[:-1] else 'all'
        (api if srv == 'api' else eng).append(pid)
    return sorted(eng), sorted(api)


def getpids():
    print('##### st2 components status #####')
    for svc in components():
        if svc == 'mistral':
            eng, api = mistral_pids()
            for label, pids in (('mistral-server', eng), ('mistral.api', api)):
                if pids:
                    for p in pids:
                        print('%s PID: %d' % (label, p))
                else:
                    print('%s is not running.' % label)
            continue
        pids = c.service_pids(svc)
        if pids:
            for p in pids:
                print('%s PID: %d' % (svc, p))
        else:
            print('%s is not running.' % svc)


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
    print('Registering content...[flags = --config-file %s %s]' % (c.ST2_CONF, ' '.join(flags)))
    sys.stdout.flush()
    return subprocess.call([c.ST2_BIN + '/st2-register-content', '--config-file', c.ST2_CONF]
                           + flags)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    c.log_command('st2ctl', ['st2ctl'] + argv)
    cmd = argv[0] if argv else ''
    if cmd == 'start':
        must_be_root()
        for svc in components():
            start_one(svc)
        time.sleep(0.7)
        getpids()
    elif cmd == 'stop':
        must_be_root()
        stop_many(components())
    elif cmd == 'restart':
        must_be_root()
        stop_many(components())
        time.sleep(1)
        for svc in components():
            start_one(svc)
        time.sleep(0.7)
        getpids()
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
        for svc in components():
            start_one(svc)
        time.sleep(0.7)
        getpids()
    elif cmd == 'status':
        getpids()
    else:
        print_usage()
        return 1
    return 0


# --------------------------------------------------------------------------- register

def _log(msg, level='INFO'):
    print('%s %s [-] %s' % (time.strftime('%Y-%m-%d %H:%M:%S'), level, msg))
    sys.stdout.flush()


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
    user = c.conf_get(cp, 'database', 'username')
    _log('Connecting to database "st2" @ "127.0.0.1:27017"%s.' %
         (' as user "%s"' % user if user else ''))
    try:
        c.check_db()
    except c.DBError as e:
        _log(str(e), 'CRITICAL')
        return 1
    everything = a.register_all
    failures = 0
    with c.db_lock():
        if getattr(a, 'register_runners', False) or (everything and c.at_least('2.1')):
            _log('=========================================================')
            _log('############## Registering runners ######################')
            _log('Registered %d runners.' % content.register_runners())
        if everything or a.register_actions or a.register_sensors or \
                getattr(a, 'register_triggers', False) or a.register_aliases or \
                a.register_rules or a.register_policies or getattr(a, 'register_configs', False):
            n_packs = n_actions = 0
            for d in content.all_pack_dirs():
                try:
                    _, n = content.register_pack(d)
                    n_packs += 1
                    n_actions += n
                except (OSError, ValueError) as e:
                    failures += 1
                    _log('Failed to register pack "%s": %s' % (d, e), 'WARNING')
            _log('############## Registering actions ######################')
            _log('Registered %d actions (from %d packs).' % (n_actions, n_packs))
            for kind in ('sensors', 'triggers', 'aliases', 'rules', 'policies', 'configs'):
                if everything or getattr(a, 'register_%s' % kind, False):
                    _log('Registered 0 %s.' % kind)
        recreate = getattr(a, 'register_recreate_virtualenvs', False)
        if a.register_setup_virtualenvs or recreate:
            _log('############## Setting up virtualenvs ###################')
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
