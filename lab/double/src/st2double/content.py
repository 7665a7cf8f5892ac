"""Content: runners, packs, actions, virtualenvs (st2-register-content, packs.install)."""
import os
import re
import shutil
import subprocess
import tempfile

from . import common as c


def runner_names():
    names = ['action-chain', 'announcement', 'http-request', 'local-shell-cmd',
             'local-shell-script', 'noop', 'python-script', 'remote-shell-cmd',
             'remote-shell-script']
    if not c.at_least('3.0'):
        names += ['cloudslang', 'windows-cmd', 'windows-script']   # removed in 3.0
    if not c.at_least('3.3'):
        names += ['mistral-v2']                                     # Mistral gone in 3.3
    if c.at_least('2.5'):
        names += ['inquirer']
    if c.at_least('2.7'):
        names += ['winrm-cmd', 'winrm-ps-cmd', 'winrm-ps-script']
    if c.at_least('2.8'):
        names += ['orquesta']
    return sorted(names)


def runner_doc(name):
    doc = {'_id': c.new_id(), 'name': name, 'enabled': True,
           'description': 'A runner for %s actions' % name,
           'runner_module': name.replace('-', '_')}
    if c.at_least('2.1'):          # runners are registered like content from 2.1
        doc['uid'] = 'runner_type:%s' % name
    if c.at_least('2.10'):         # runners are Python packages from 2.10
        doc['runner_package'] = name.replace('-', '_') + '_runner'
    return doc


def register_runners():
    docs = c.load('runners')
    by_name = {d['name']: i for i, d in enumerate(docs)}
    for name in runner_names():
        new = runner_doc(name)
        if name in by_name:
            new['_id'] = docs[by_name[name]]['_id']
            docs[by_name[name]] = new
        else:
            docs.append(new)
    c.save('runners', docs)
    return len(runner_names())


def parse_simple_yaml(path):
    """Top-level `key: value` pairs of a pack.yaml / action metadata file."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r'^([A-Za-z_][A-Za-z0-9_]*):\s*(.*?)\s*$', line)
            if m:
                v = m.group(2)
                if len(v) >= 2 and v[0] == v[-1] and v[0] in '"\'':
                    v = v[1:-1]
                out[m.group(1)] = v
    return out


def pack_meta(path):
    meta = parse_simple_yaml(os.path.join(path, 'pack.yaml'))
    meta.setdefault('name', os.path.basename(path))
    meta['ref'] = meta.get('ref') or meta['name']
    return meta


def register_pack(path):
    """Register one pack directory: its pack document and its actions."""
    meta = pack_meta(path)
    ref = meta['ref']
    packs = c.load('packs')
    doc = {'_id': c.new_id(), 'name': meta['name'], 'description': meta.get('description', ''),
           'version': meta.get('version', '0.1.0'), 'author': meta.get('author', ''),
           'path': path}
    if c.at_least('2.1'):
        doc['ref'] = ref
        doc['uid'] = 'pack:%s' % ref
    c.upsert(packs, doc, lambda d: d.get('ref', d.get('name')) == ref)
    c.save('packs', packs)
    actions = c.load('actions')
    n = 0
    adir = os.path.join(path, 'actions')
    for fn in sorted(os.listdir(adir)) if os.path.isdir(adir) else []:
        if not fn.endswith(('.yaml', '.yml')):
            continue
        a = parse_simple_yaml(os.path.join(adir, fn))
        if 'name' not in a or 'runner_type' not in a:
            continue
        aref = '%s.%s' % (ref, a['name'])
        adoc = {'_id': c.new_id(), 'name': a['name'], 'pack': ref, 'ref': aref,
                'description': a.get('description', ''),
                'runner_type': {'name': a['runner_type']} if not c.at_least('2.1')
                else a['runner_type'],
                'entry_point': a.get('entry_point', ''),
                'enabled': a.get('enabled', 'true').lower() != 'false'}
        if c.at_least('2.1'):
            adoc['uid'] = 'action:%s:%s' % (ref, a['name'])
        for i, d in enumerate(actions):
            if d.get('ref') == aref:
                adoc['_id'] = d['_id']
                actions[i] = adoc
                break
        else:
            actions.append(adoc)
        n += 1
    c.save('actions', actions)
    return ref, n


def all_pack_dirs():
    if not os.path.isdir(c.PACKS_DIR):
        return []
    return [os.path.join(c.PACKS_DIR, d) for d in sorted(os.listdir(c.PACKS_DIR))
            if os.path.isfile(os.path.join(c.PACKS_DIR, d, 'pack.yaml'))]


def venv_python():
    return c.PYTHON


def setup_virtualenv(ref, recreate=False):
    """A pack virtualenv is a directory whose pyvenv.cfg records the Python it was
    built for (no real interpreter is copied: the lab has no PyPI)."""
    d = os.path.join(c.VENV_DIR, ref)
    cfg = os.path.join(d, 'pyvenv.cfg')
    if os.path.exists(cfg) and not recreate:
        return False
    if recreate and os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, 'bin'), exist_ok=True)
    with open(cfg, 'w') as f:
        f.write('home = /opt/stackstorm/st2/bin\nversion = %s\n' % venv_python())
    return True


def venv_version(ref):
    """The Python a pack's virtualenv was built for, None if there is none."""
    try:
        return _venv_cfg(ref)
    except OSError:
        return None


def _venv_cfg(ref):
    with open(os.path.join(c.VENV_DIR, ref, 'pyvenv.cfg')) as f:
        for line in f:
            if line.startswith('version = '):
                return line.split('=', 1)[1].strip()
    return None


def install_pack_from_git(url, wanted=None):
    """packs.install: clone, copy into /opt/stackstorm/packs/<ref>, register, virtualenv."""
    tmp = tempfile.mkdtemp(prefix='st2-pack-')
    try:
        r = subprocess.run(['git', 'clone', '--quiet', url, os.path.join(tmp, 'repo')],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError('Failed to clone repository %s: %s' % (url, r.stdout.strip()))
        repo = os.path.join(tmp, 'repo')
        sources = []
        if os.path.isfile(os.path.join(repo, 'pack.yaml')):
            sources.append(repo)
        elif os.path.isdir(os.path.join(repo, 'packs')):      # st2contrib-style monorepo
            for name in wanted or sorted(os.listdir(os.path.join(repo, 'packs'))):
                p = os.path.join(repo, 'packs', name)
                if not os.path.isfile(os.path.join(p, 'pack.yaml')):
                    raise RuntimeError('Pack "%s" not found in %s' % (name, url))
                sources.append(p)
        else:
            raise RuntimeError('Repository %s contains no pack.yaml' % url)
        done = []
        for src in sources:
            meta = pack_meta(src)
            ref = meta['ref']          # a single-pack repo is named by its pack.yaml
            dest = os.path.join(c.PACKS_DIR, ref)
            if os.path.isdir(dest):
                shutil.rmtree(dest)
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns('.git'))
            register_pack(dest)
            setup_virtualenv(ref, recreate=True)
            done.append(ref)
        return done
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
