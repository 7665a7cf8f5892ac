#!/usr/bin/env python3
"""Build .rpm packages of the StackStorm test double from the trees stage.py laid out.

usage: rpm.py SRC_DIR STAGE_DIR OUT_DIR VERSION...
For every StackStorm VERSION given, the st2, st2web and st2chatops trees of that version, and the
RabbitMQ double, become OUT_DIR/<name>-<version>-<release>.<arch>.rpm: the same payload as the
.deb, /etc files (and the deb's other conffiles) as %config(noreplace), the scriptlets of
SRC_DIR/src/rpm/<package>.<pre|post|preun|postun>. Names and releases as StackStorm's el packages
have them: Release is the packagecloud revision alone, no dist tag and no epoch (st2-packages
rpmspec/st2pkg_toptags.spec `Release: %{release}` from ST2PKG_RELEASE, packages/st2/rpm/st2.spec
without Epoch since 6fba855; st2web rpm/st2web.spec and st2chatops rpm/st2chatops.spec
`%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm`, no BuildArch: built for the machine's architecture).
"""
import os
import subprocess
import sys
import tempfile

SRC, STAGE, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
VERSIONS = sys.argv[4:]

# Debian package names in the double's Depends -> the RHEL package that provides the same.
REQUIRES = {'python3': 'python3', 'git': 'git', 'procps': 'procps-ng', 'passwd': 'shadow-utils'}
# Directories every package shares with the system: not owned by the double's packages.
SYSTEM_DIRS = {'/etc', '/etc/init.d', '/opt', '/usr', '/usr/bin', '/usr/sbin', '/usr/lib'}
SCRIPTLETS = ('pre', 'post', 'preun', 'postun')


def control(tree):
    fields, key = {}, None
    with open(os.path.join(tree, 'DEBIAN', 'control')) as f:
        for line in f:
            if line.startswith(' ') and key:
                fields[key] += '\n' + line[1:].rstrip('\n')
            else:
                key, _, value = line.partition(':')
                fields[key] = value.strip()
    return fields


def conffiles(tree):
    path = os.path.join(tree, 'DEBIAN', 'conffiles')
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def payload(tree):
    """(directories, files) of the tree, as absolute paths on the host, DEBIAN/ left out."""
    dirs, files = [], []
    for d, subdirs, names in os.walk(tree):
        subdirs.sort()
        rel = '/' + os.path.relpath(d, tree) if d != tree else '/'
        if rel == '/DEBIAN' or rel.startswith('/DEBIAN/'):
            continue
        if rel != '/' and rel not in SYSTEM_DIRS:
            dirs.append(rel)
        for n in sorted(names):
            files.append(os.path.join(rel, n))
        for n in subdirs:
            if os.path.islink(os.path.join(d, n)):
                files.append(os.path.join(rel, n))
    return dirs, files


def spec(tree, name, version, release, arch):
    c = control(tree)
    conf = conffiles(tree)
    dirs, files = payload(tree)
    requires = [REQUIRES[d.split()[0]] for d in c.get('Depends', '').split(',') if d.strip()]
    summary, _, body = c['Description'].partition('\n')
    lines = ['Name: %s' % name, 'Version: %s' % version, 'Release: %s' % release,
             'Summary: %s' % summary, 'License: Apache-2.0', 'AutoReqProv: no']
    if arch == 'noarch':
        lines.append('BuildArch: noarch')
    if requires:
        lines.append('Requires: %s' % ', '.join(requires))
    lines += ['', '%description', body or summary, '',
              '%install', 'cp -a %s/. %%{buildroot}/' % tree, 'rm -rf %{buildroot}/DEBIAN', '']
    for kind in SCRIPTLETS:
        p = os.path.join(SRC, 'src', 'rpm', '%s.%s' % (name, kind))
        if os.path.exists(p):
            with open(p) as f:
                lines += ['%%%s -p /bin/bash' % kind, f.read().replace('@VERSION@', version).rstrip('\n'), '']
    lines += ['%files', '%defattr(-,root,root,-)']
    lines += ['%%dir "%s"' % d for d in dirs]
    lines += [('%%config(noreplace) "%s"' if f in conf else '"%s"') % f for f in files]
    return '\n'.join(lines) + '\n'


def build(tree, name, version, release, arch):
    with tempfile.TemporaryDirectory() as top:
        path = os.path.join(top, '%s.spec' % name)
        with open(path, 'w') as f:
            f.write(spec(tree, name, version, release, arch))
        defines = {
            '_topdir': top, '_rpmdir': OUT, '_build_name_fmt': '%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
            '_buildhost': 'st2-upgrade-lab', 'debug_package': '%{nil}', '__os_install_post': '%{nil}',
            '_build_id_links': 'none', 'use_source_date_epoch_as_buildtime': '1',
            'clamp_mtime_to_source_date_epoch': '1', '_binary_payload': 'w9.gzdio',
        }
        argv = ['rpmbuild', '-bb', '--quiet']
        for k, v in defines.items():
            argv += ['--define', '%s %s' % (k, v)]
        r = subprocess.run(argv + [path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            sys.exit('rpm.py: rpmbuild of %s %s-%s failed:\n%s' % (name, version, release, r.stdout[-3000:]))


def main():
    os.makedirs(OUT, exist_ok=True)
    for entry in sorted(os.listdir(STAGE)):
        name, _, full = entry.partition('_')
        version, _, release = full.partition('-')
        if name in ('st2', 'st2web', 'st2chatops') and version in VERSIONS:
            build(os.path.join(STAGE, entry), name, version, release, os.uname().machine)
        elif name == 'rabbitmq-server':
            build(os.path.join(STAGE, entry), name, version, release, 'noarch')


main()
