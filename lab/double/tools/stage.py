#!/usr/bin/env python3
"""Lay out the package trees of the StackStorm test double.

usage: stage.py SRC_DIR STAGE_DIR
Writes STAGE_DIR/<package>_<version>/ (files + DEBIAN/) for every line of
SRC_DIR/versions.tsv; build-repo.sh turns each into a .deb with dpkg-deb.
Deterministic: same sources, same trees.
"""
import json
import os
import shutil
import sys

SRC, STAGE = sys.argv[1], sys.argv[2]
MAINT = 'st2-upgrade lab <lab@st2-upgrade.invalid>'


def vt(v):
    return tuple(int(x) for x in v.split('.'))


def write(root, rel, text, mode=0o644):
    p = os.path.join(root, rel.lstrip('/'))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, 'w') as f:
        f.write(text)
    os.chmod(p, mode)


def copy(root, rel, src, mode=0o644):
    with open(src) as f:
        write(root, rel, f.read(), mode)


def symlink(root, rel, target):
    p = os.path.join(root, rel.lstrip('/'))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    os.symlink(target, p)


def control(root, fields):
    order = ['Package', 'Version', 'Architecture', 'Maintainer', 'Depends', 'Conflicts',
             'Replaces', 'Section', 'Priority', 'Description']
    text = ''.join('%s: %s\n' % (k, fields[k]) for k in order if fields.get(k))
    write(root, 'DEBIAN/control', text)


def conffiles(root):
    etc = os.path.join(root, 'etc')
    files = []
    for d, _, fs in os.walk(etc):
        for f in fs:
            files.append('/' + os.path.relpath(os.path.join(d, f), root))
    for extra in ('opt/stackstorm/static/webui/config.js', 'opt/stackstorm/chatops/st2chatops.env'):
        if os.path.exists(os.path.join(root, extra)):
            files.append('/' + extra)
    if files:
        write(root, 'DEBIAN/conffiles', ''.join(sorted(f + '\n' for f in files)))


def script(name):
    with open(os.path.join(SRC, 'src', 'debian', name)) as f:
        return f.read()


# ------------------------------------------------------------------ st2.conf by era

def services(v):
    s = ['st2actionrunner', 'st2api', 'st2stream', 'st2auth', 'st2garbagecollector',
         'st2notifier']
    if v < (3, 5):
        s.append('st2resultstracker')
    s += ['st2rulesengine', 'st2sensorcontainer']
    if v >= (2, 8):
        s.append('st2workflowengine')
    if v >= (2, 9):
        s.append('st2timersengine')
    if v >= (2, 10):
        s.append('st2scheduler')
    return s


LOGNAME = {'st2actionrunner': ('actionrunner', 'actionrunner'), 'st2api': ('api', 'api'),
           'st2stream': ('stream', 'stream'), 'st2auth': ('auth', 'auth'),
           'st2garbagecollector': ('garbagecollector', 'garbagecollector'),
           'st2notifier': ('notifier', 'notifier'),
           'st2resultstracker': ('resultstracker', 'resultstracker'),
           'st2rulesengine': ('rulesengine', 'rulesengine'),
           'st2sensorcontainer': ('sensorcontainer', 'sensorcontainer'),
           'st2workflowengine': ('workflow_engine', 'workflowengine'),
           'st2timersengine': ('timersengine', 'timersengine'),
           'st2scheduler': ('scheduler', 'scheduler')}


def st2_conf(v):
    out = ['# System-wide configuration of StackStorm (lab test double of the st2 package)', '']
    extra = {
        'api': ['host = 127.0.0.1', 'port = 9101', 'mask_secrets = True'],
        'auth': ['host = 127.0.0.1', 'port = 9100', 'use_ssl = False', 'enable = True',
                 'mode = standalone', 'backend = flat_file',
                 'backend_kwargs = {"file_path": "/etc/st2/htpasswd"}',
                 'api_url = http://127.0.0.1:9101/'],
    }
    for svc in services(v):
        section, name = LOGNAME[svc]
        out.append('[%s]' % section)
        out.extend(extra.get(section, []))
        out.append('logging = /etc/st2/logging.%s.conf' % name)
        out.append('')
    out += ['[system]', 'base_path = /opt/stackstorm', '',
            '[system_user]', 'user = stanley', 'ssh_key_file = /home/stanley/.ssh/stanley_rsa', '',
            '[content]', 'packs_base_paths = /opt/stackstorm/packs', '',
            '[messaging]', 'url = amqp://guest:guest@127.0.0.1:5672/', '']
    if v >= (1, 5):
        out += ['[keyvalue]', 'encryption_key_path = /etc/st2/keys/datastore_key.json', '']
    out += ['[database]', 'host = 127.0.0.1', 'port = 27017', 'db_name = st2']
    if v >= (2, 2):
        out += ['username = stackstorm', 'password = StackStorm']
    out += ['tls = False' if v >= (3, 9) else 'ssl = False', '']
    if v < (3, 3):
        out += ['[mistral]', 'v2_base_url = http://127.0.0.1:8989/v2',
                'api_url = http://127.0.0.1:9101', '']
    if v >= (3, 0):
        out += ['[rbac]', 'enable = False', '']
    return '\n'.join(out)


LOGGING_CONF = """[loggers]
keys=root

[handlers]
keys=fileHandler,auditHandler

[formatters]
keys=simpleFormatter

[logger_root]
level=INFO
handlers=fileHandler,auditHandler

[handler_fileHandler]
class=handlers.RotatingFileHandler
level=INFO
formatter=simpleFormatter
args=("/var/log/st2/%(svc)s.log",)

[handler_auditHandler]
class=handlers.RotatingFileHandler
level=AUDIT
formatter=simpleFormatter
args=("/var/log/st2/%(svc)s.audit.log",)

[formatter_simpleFormatter]
format=%%(asctime)s %%(process)d %%(levelname)s %%(module)s [-] %%(message)s
"""

# ------------------------------------------------------------------ shipped packs

PACKS = {
    'core': ('Basic core actions.', [
        ('local', 'local-shell-cmd', '', 'Action that executes an arbitrary Linux command on the localhost.'),
        ('local_sudo', 'local-shell-cmd', '', 'Action that executes an arbitrary Linux command on the localhost (sudo).'),
        ('remote', 'remote-shell-cmd', '', 'Action to execute arbitrary linux command remotely.'),
        ('noop', 'noop', '', 'Action that does nothing'),
        ('echo', 'local-shell-cmd', '', 'Action that executes the Linux echo command on the localhost.'),
    ]),
    'packs': ('Pack management functionality.', [
        ('install', 'python-script', 'pack_mgmt/install.py', 'Installs or upgrades a pack.'),
        ('download', 'python-script', 'pack_mgmt/download.py', 'Downloads packs.'),
        ('setup_virtualenv', 'python-script', 'pack_mgmt/setup_virtualenv.py', 'Set up virtual environment for the provided packs.'),
    ]),
    'linux': ('Generic Linux actions', [
        ('pkill', 'local-shell-cmd', '', 'Kill processes using pkill'),
    ]),
}


def stage_packs(root, version):
    for pack, (desc, actions) in PACKS.items():
        base = 'opt/stackstorm/packs/%s' % pack
        write(root, base + '/pack.yaml', '---\nref: %s\nname: %s\ndescription: %s\nversion: %s\n'
              'author: StackStorm, Inc.\nemail: info@stackstorm.com\n' % (pack, pack, desc, version))
        for name, runner, entry, adesc in actions:
            write(root, '%s/actions/%s.yaml' % (base, name),
                  '---\nname: %s\nrunner_type: %s\ndescription: "%s"\nenabled: true\n'
                  'entry_point: "%s"\n' % (name, runner, adesc, entry))


# ------------------------------------------------------------------ packages

PY_STUB = '#!/usr/bin/python3\n# StackStorm test double (st2-upgrade lab)\nimport sys\n' \
          'sys.path.insert(0, "/opt/stackstorm/st2/lib")\n%s\n'


def stage_st2(version, rev, python):
    v = vt(version)
    root = os.path.join(STAGE, 'st2_%s-%s' % (version, rev))
    libsrc = os.path.join(SRC, 'src', 'st2double')
    for f in sorted(os.listdir(libsrc)):
        if f.endswith('.py'):
            copy(root, 'opt/stackstorm/st2/lib/st2double/' + f, os.path.join(libsrc, f))
    write(root, 'opt/stackstorm/st2/lib/st2double/BUILD_INFO.json',
          json.dumps({'version': version, 'python': python}, sort_keys=True) + '\n')
    symlink(root, 'opt/stackstorm/st2/bin/python', '/usr/bin/python3')
    symlink(root, 'opt/stackstorm/st2/bin/python3', '/usr/bin/python3')
    for svc in services(v):
        write(root, 'opt/stackstorm/st2/bin/' + svc,
              PY_STUB % 'from st2double.service import main\nmain(%r)' % svc, 0o755)
    write(root, 'opt/stackstorm/st2/bin/st2',
          PY_STUB % 'from st2double.cli import main\nsys.exit(main())', 0o755)
    symlink(root, 'usr/bin/st2', '/opt/stackstorm/st2/bin/st2')
    write(root, 'usr/bin/st2ctl', PY_STUB % 'from st2double.ctl import main\nsys.exit(main())',
          0o755)
    write(root, 'opt/stackstorm/st2/bin/st2-register-content',
          PY_STUB % 'from st2double.ctl import register_main\nsys.exit(register_main())', 0o755)
    if v >= (1, 5):
        write(root, 'opt/stackstorm/st2/bin/st2-generate-symmetric-crypto-key',
              PY_STUB % 'from st2double.keygen import main\nsys.exit(main())', 0o755)
    # migration scripts: v1.5 shipped in 1.5 ... 3.0.x, v2.1 in 2.1 ... 3.0.x
    if (1, 5) <= v < (3, 1):
        n = 'st2-migrate-datastore-to-include-scope-secret.py'
        write(root, 'opt/stackstorm/st2/bin/' + n,
              PY_STUB % 'from st2double.migrate import main\nsys.exit(main(%r))' % n, 0o755)
    if (2, 1) <= v < (3, 1):
        n = 'st2-migrate-datastore-scopes.py'
        write(root, 'opt/stackstorm/st2/bin/' + n,
              PY_STUB % 'from st2double.migrate import main\nsys.exit(main(%r))' % n, 0o755)
        copy(root, 'opt/stackstorm/st2/bin/st2-migrate-runners.sh',
             os.path.join(SRC, 'src', 'bin', 'st2-migrate-runners.sh'), 0o755)
    write(root, 'etc/st2/st2.conf', st2_conf(v))
    for svc in services(v):
        name = LOGNAME[svc][1]
        write(root, 'etc/st2/logging.%s.conf' % name, LOGGING_CONF % {'svc': svc})
    stage_packs(root, version)
    for s in ('preinst', 'postinst', 'prerm'):
        write(root, 'DEBIAN/' + s, script('st2.' + s).replace('@VERSION@', version), 0o755)
    control(root, {'Package': 'st2', 'Version': '%s-%s' % (version, rev), 'Architecture': 'all',
                   'Maintainer': MAINT, 'Depends': 'python3, git, procps, passwd',
                   'Section': 'python', 'Priority': 'optional',
                   'Description': 'StackStorm event-driven automation (lab test double)\n'
                   ' Emulates the st2 package %s for the st2-upgrade lab: st2, st2ctl,\n'
                   ' services, datastore, migration scripts.' % version})
    conffiles(root)


def stage_st2web(version, rev):
    root = os.path.join(STAGE, 'st2web_%s-%s' % (version, rev))
    write(root, 'opt/stackstorm/static/webui/index.html',
          '<!doctype html><title>StackStorm Web UI %s (lab double)</title>\n' % version)
    write(root, 'opt/stackstorm/static/webui/config.js',
          "'use strict';\nangular.module('main').constant('st2Config', {\n  hosts: [{ name: "
          "'StackStorm', url: '/api', auth: '/auth' }]\n});\n")
    write(root, 'opt/stackstorm/static/webui/VERSION', version + '\n')
    control(root, {'Package': 'st2web', 'Version': '%s-%s' % (version, rev), 'Architecture': 'all',
                   'Maintainer': MAINT, 'Section': 'web', 'Priority': 'optional',
                   'Description': 'StackStorm Web UI (lab test double) %s' % version})
    conffiles(root)


def stage_st2chatops(version, rev):
    root = os.path.join(STAGE, 'st2chatops_%s-%s' % (version, rev))
    copy(root, 'opt/stackstorm/chatops/bin/hubot', os.path.join(SRC, 'src', 'bin', 'hubot'), 0o755)
    write(root, 'opt/stackstorm/chatops/package.json',
          json.dumps({'name': 'st2chatops', 'version': version}, indent=2) + '\n')
    write(root, 'opt/stackstorm/chatops/st2chatops.env',
          '# Hubot settings (lab double)\nexport HUBOT_ADAPTER=shell\nexport HUBOT_NAME=stanley\n'
          'export ST2_API_URL=https://127.0.0.1/api\n')
    write(root, 'DEBIAN/prerm', script('st2chatops.prerm'), 0o755)
    control(root, {'Package': 'st2chatops', 'Version': '%s-%s' % (version, rev),
                   'Architecture': 'all', 'Maintainer': MAINT, 'Depends': 'python3',
                   'Section': 'net', 'Priority': 'optional',
                   'Description': 'StackStorm ChatOps (hubot) (lab test double) %s' % version})
    conffiles(root)


def stage_st2mistral(version, rev, alembic):
    root = os.path.join(STAGE, 'st2mistral_%s-%s' % (version, rev))
    copy(root, 'opt/stackstorm/mistral/bin/mistral-db-manage',
         os.path.join(SRC, 'src', 'bin', 'mistral-db-manage'), 0o755)
    copy(root, 'opt/stackstorm/mistral/bin/mistral-server',
         os.path.join(SRC, 'src', 'bin', 'mistral-server'), 0o755)
    # mistral-api runs under gunicorn, as st2mistral's own init script started it (st2-packages
    # 8c4b0be, the last commit with Mistral, packages/st2mistral/debian/mistral-api.init):
    # ps shows `/opt/stackstorm/mistral/bin/python /opt/stackstorm/mistral/bin/gunicorn … mistral.api.wsgi …`
    copy(root, 'opt/stackstorm/mistral/bin/gunicorn',
         os.path.join(SRC, 'src', 'bin', 'mistral-server'), 0o755)
    symlink(root, 'opt/stackstorm/mistral/bin/python', '/usr/bin/python3')
    copy(root, 'opt/stackstorm/mistral/bin/mistral-populate-legacy',
         os.path.join(SRC, 'src', 'bin', 'mistral-populate-legacy'), 0o755)
    write(root, 'opt/stackstorm/mistral/share/alembic-head', alembic + '\n')
    write(root, 'opt/stackstorm/mistral/VERSION', version + '\n')
    for name, server in (('mistral', 'engine,executor'), ('mistral-api', 'api')):
        with open(os.path.join(SRC, 'src', 'bin', 'mistral.init')) as f:
            text = f.read()
        write(root, 'etc/init.d/' + name,
              text.replace('@NAME@', name).replace('@SERVER@', server), 0o755)
    for s in ('postinst', 'prerm'):
        write(root, 'DEBIAN/' + s, script('st2mistral.' + s), 0o755)
    control(root, {'Package': 'st2mistral', 'Version': '%s-%s' % (version, rev),
                   'Architecture': 'all', 'Maintainer': MAINT,
                   'Depends': 'mistral-common, python3-psycopg2', 'Section': 'python',
                   'Priority': 'optional',
                   'Description': 'StackStorm Mistral (lab test double) %s\n Wraps Debian\'s '
                   'OpenStack Mistral; "upgrade head" means alembic revision %s.'
                   % (version, alembic)})
    conffiles(root)


def stage_enterprise(pkg, version, rev, st2rev):
    root = os.path.join(STAGE, '%s_%s-%s' % (pkg, version, rev))
    write(root, 'opt/stackstorm/enterprise/VERSION', version + '\n')
    write(root, 'opt/stackstorm/enterprise/README', 'Enterprise add-ons (RBAC, LDAP) - lab double\n')
    fields = {'Package': pkg, 'Version': '%s-%s' % (version, rev), 'Architecture': 'all',
              'Maintainer': MAINT, 'Depends': 'st2 (= %s-%s)' % (version, st2rev),
              'Section': 'python', 'Priority': 'optional',
              'Description': 'StackStorm enterprise add-ons (lab test double) %s' % version}
    if pkg == 'bwc-enterprise':
        fields['Conflicts'] = 'st2enterprise'
        fields['Replaces'] = 'st2enterprise'
    control(root, fields)


# The RabbitMQ fake: one version, independent of StackStorm's (versions.tsv).
RABBITMQ_VERSION = '3.8.9-0st2double1'
RMQ_STUB = '#!/usr/bin/python3\n# RabbitMQ fake (st2-upgrade lab)\nimport sys\n' \
           'sys.path.insert(0, "/usr/lib/rabbitmq-double")\nimport rmqfake\n' \
           'sys.exit(rmqfake.%s(sys.argv[1:]))\n'


def stage_rabbitmq():
    root = os.path.join(STAGE, 'rabbitmq-server_%s' % RABBITMQ_VERSION)
    copy(root, 'usr/lib/rabbitmq-double/rmqfake.py',
         os.path.join(SRC, 'src', 'rabbitmq', 'rmqfake.py'))
    write(root, 'usr/sbin/rabbitmqctl', RMQ_STUB % 'ctl_main', 0o755)
    write(root, 'usr/bin/rabbitmqadmin', RMQ_STUB % 'admin_main', 0o755)
    for s in ('postinst', 'prerm', 'postrm'):
        write(root, 'DEBIAN/' + s, script('rabbitmq-server.' + s), 0o755)
    control(root, {'Package': 'rabbitmq-server', 'Version': RABBITMQ_VERSION,
                   'Architecture': 'all', 'Maintainer': MAINT, 'Depends': 'python3, passwd',
                   'Section': 'net', 'Priority': 'optional',
                   'Description': 'AMQP server (lab fake of RabbitMQ %s)\n'
                   ' Queue counts in a file (/var/lib/rabbitmq-double/queues.tsv); the\n'
                   ' rabbitmqctl and rabbitmqadmin commands st2-upgrade runs; no node runs.'
                   % RABBITMQ_VERSION.split('-')[0]})


def main():
    if os.path.exists(STAGE):
        shutil.rmtree(STAGE)
    os.makedirs(STAGE)
    with open(os.path.join(SRC, 'versions.tsv')) as f:
        for line in f:
            if not line.strip() or line.startswith('#'):
                continue
            (version, st2_rev, web_rev, chatops_rev, mistral_rev, alembic, ent_pkg, ent_rev,
             python) = line.split()
            stage_st2(version, st2_rev, python)
            stage_st2web(version, web_rev)
            stage_st2chatops(version, chatops_rev)
            if mistral_rev != '-':
                stage_st2mistral(version, mistral_rev, alembic)
            if ent_pkg != '-':
                stage_enterprise(ent_pkg, version, ent_rev, st2_rev)
    stage_rabbitmq()


main()
