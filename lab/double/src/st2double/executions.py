"""Action executions: created by the API (CLI), scheduled by st2scheduler (2.10+),
run by st2actionrunner.  Documents are written in the format of the code that
writes them: from 3.5 `result` is stored serialized (a JSON string plus
`result_size`), before as a plain sub-document.  A service started before a
package upgrade keeps writing its old format (old code keeps running)."""
import json
import os
import pwd
import subprocess

from . import common as c
from . import content


def initial_status():
    return 'requested' if c.at_least('2.10') else 'scheduled'


def create(action_ref, parameters, user):
    with c.db_lock():
        actions = c.load('actions')
        action = next((a for a in actions if a.get('ref') == action_ref), None)
        if action is None:
            raise LookupError('Action "%s" cannot be found.' % action_ref)
        runner = action['runner_type']
        runner = runner['name'] if isinstance(runner, dict) else runner
        doc = {'_id': c.new_id(), 'action': {'ref': action_ref, 'runner_type': runner,
                                             'entry_point': action.get('entry_point', '')},
               'runner': {'name': runner}, 'parameters': parameters,
               'status': initial_status(), 'start_timestamp': c.now_iso(),
               'context': {'user': user}, 'log': [{'status': initial_status(),
                                                   'timestamp': c.now_iso()}]}
        docs = c.load('executions')
        docs.append(doc)
        c.save('executions', docs)
    return doc


def get_result(doc):
    r = doc.get('result')
    if isinstance(r, str):
        try:
            return json.loads(r)
        except ValueError:
            return r
    return r


def _set_result(doc, result):
    if c.at_least('3.5'):
        s = json.dumps(result, sort_keys=True)
        doc['result'] = s
        doc['result_size'] = len(s)
    else:
        doc['result'] = result


def update(exec_id, fn):
    with c.db_lock():
        docs = c.load('executions')
        for d in docs:
            if d['_id'] == exec_id:
                fn(d)
                c.save('executions', docs)
                return d
    return None


def find(exec_id):
    for d in c.load('executions'):
        if d['_id'] == exec_id:
            return d
    return None


def _advance(doc, status):
    """The execution moves on to `status`, with its log entry."""
    doc['status'] = status
    doc.setdefault('log', []).append({'status': status, 'timestamp': c.now_iso()})
    return doc


def schedule_requested():
    """st2scheduler (2.10+): requested -> scheduled.  Returns the documents changed."""
    changed = []
    with c.db_lock():
        docs = c.load('executions')
        for d in docs:
            if d.get('status') == 'requested':
                changed.append(_advance(d, 'scheduled'))
        if changed:
            c.save('executions', docs)
    return changed


def claim_scheduled():
    with c.db_lock():
        docs = c.load('executions')
        for d in docs:
            if d.get('status') == 'scheduled':
                _advance(d, 'running')
                c.save('executions', docs)
                return d
    return None


def _run_as_stanley():
    try:
        pw = pwd.getpwnam('stanley')
        return {'user': pw.pw_uid, 'group': pw.pw_gid} if os.getuid() == 0 else {}
    except KeyError:
        return {}


def _shell(cmd, cwd='/tmp', extra_env=None):
    env = {'PATH': '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', 'HOME': '/tmp',
           'LANG': 'C.UTF-8'}
    env.update(extra_env or {})
    p = subprocess.run(cmd, shell=isinstance(cmd, str), cwd=cwd, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=600, **_run_as_stanley())
    return {'failed': p.returncode != 0, 'succeeded': p.returncode == 0,
            'return_code': p.returncode, 'stdout': p.stdout.rstrip('\n'),
            'stderr': p.stderr.rstrip('\n')}


def execute(doc):
    """Run one execution (inside st2actionrunner).  Returns (status, result)."""
    ref = doc['action']['ref']
    runner = doc['action']['runner_type']
    params = doc.get('parameters') or {}
    runners = {r['name'] for r in c.load('runners')}
    if runner not in runners:
        return 'failed', {'error': 'Failed to find runner type "%s": runners must be '
                                   'registered (st2ctl reload --register-runners)' % runner}
    if ref == 'packs.install':
        packs = params.get('packs') or []
        if isinstance(packs, str):
            packs = [p for p in packs.split(',') if p]
        repo_url = params.get('repo_url')
        try:
            installed = []
            if repo_url:
                installed += content.install_pack_from_git(repo_url, packs)
            else:
                for p in packs:
                    if '://' not in p and not p.startswith('/'):
                        raise RuntimeError('Pack "%s" is not a repository URL and the lab has '
                                           'no StackStorm Exchange' % p)
                    installed += content.install_pack_from_git(p)
            return 'succeeded', {'result': {'installed': installed},
                                 'message': 'Successfully installed packs: %s' % ','.join(installed)}
        except Exception as e:  # noqa: BLE001 - the action reports every failure
            return 'failed', {'error': str(e)}
    if runner == 'local-shell-cmd':
        cmd = params.get('cmd', '')
        if params.get('sudo') in (True, 'true', 'True'):
            cmd = 'sudo -n -- bash -c %s' % json.dumps(cmd)
        r = _shell(cmd)
        return ('succeeded' if r['succeeded'] else 'failed'), r
    if runner in ('local-shell-script', 'python-script'):
        pack = ref.split('.', 1)[0]
        entry = os.path.join(c.PACKS_DIR, pack, 'actions', doc['action'].get('entry_point', ''))
        if runner == 'python-script':
            venv = content.venv_version(pack)
            if venv is None:
                return 'failed', {'error': 'Virtual environment for pack "%s" does not exist '
                                           '(%s/%s)' % (pack, c.VENV_DIR, pack)}
            # a virtualenv runs the Python it was built with, which cannot import st2's libraries
            # of another MAJOR.MINOR: 3.4 (Python 2 -> 3) and 3.7 on EL8 (3.6 -> 3.8) re-create them
            if venv.split('.')[:2] != c.PYTHON.split('.')[:2]:
                return 'failed', {'result': None, 'exit_code': 1, 'stdout': '',
                                  'stderr': 'Traceback (most recent call last):\n  File '
                                  '"/opt/stackstorm/st2/lib/python%s/site-packages/'
                                  'python_runner/python_action_wrapper.py"\nImportError: '
                                  'virtualenv %s/%s was built for Python %s, st2 runs Python %s'
                                  % ('.'.join(c.PYTHON.split('.')[:2]), c.VENV_DIR, pack, venv,
                                     c.PYTHON)}
            r = _shell(['python3', entry], cwd=os.path.dirname(entry),
                       extra_env={'ST2_ACTION_PARAMETERS': json.dumps(params)})
            return ('succeeded' if r['succeeded'] else 'failed'), {
                'exit_code': r['return_code'], 'stdout': r['stdout'], 'stderr': r['stderr'],
                'result': r['stdout']}
        r = _shell(['bash', entry], cwd=os.path.dirname(entry))
        return ('succeeded' if r['succeeded'] else 'failed'), r
    if runner == 'noop':
        return 'succeeded', {'failed': False, 'succeeded': True, 'return_code': 0,
                             'stdout': '', 'stderr': ''}
    return 'failed', {'error': 'runner "%s" is not emulated by the lab double' % runner}


def finish(doc, status, result):
    def fn(d):
        d['status'] = status
        d['end_timestamp'] = c.now_iso()
        _set_result(d, result)
        d.setdefault('log', []).append({'status': status, 'timestamp': c.now_iso()})
    return update(doc['_id'], fn)
