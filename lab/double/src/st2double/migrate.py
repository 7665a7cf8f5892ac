"""Datastore migration scripts (st2common/bin/migrations/v1.5 and v2.1).

They do the real transformation on /var/lib/st2-double/db/kv.json, item by item
and without a transaction (an error leaves the items before it migrated, like
the real scripts on MongoDB), are idempotent, print SUCCESS/ABORTED and exit
0/1.  The document model default for a missing `scope` is that of the package
running the script: `system` before 2.1, `st2kv.system` from 2.1."""
import argparse
import sys
import traceback

from . import common as c


class NotUniqueError(Exception):
    pass


def model_default_scope():
    return 'st2kv.system' if c.at_least('2.1') else 'system'


def to_scope_secret(doc):
    """v1.5: give every item `scope` and `secret` (and `encrypted`)."""
    new = dict(doc)
    new['scope'] = doc.get('scope', model_default_scope())
    new['secret'] = bool(doc.get('secret', False))
    new['encrypted'] = bool(doc.get('encrypted', new['secret']))
    return new


def to_full_scopes(doc):
    """v2.1: scopes `system`/`user` become `st2kv.system`/`st2kv.user`."""
    new = dict(doc)
    scope = doc.get('scope', model_default_scope())
    new['scope'] = {'system': 'st2kv.system', 'user': 'st2kv.user'}.get(scope, scope)
    new['secret'] = bool(doc.get('secret', False))
    return new


SCRIPTS = {
    'st2-migrate-datastore-to-include-scope-secret.py': to_scope_secret,
    'st2-migrate-datastore-scopes.py': to_full_scopes,
}


def _key(d):
    return (d.get('scope'), d.get('user'), d.get('name'))


def migrate(transform, fail_at=None):
    with c.db_lock():
        docs = c.load('kv')
        for i, doc in enumerate(docs):
            try:
                if fail_at is not None and i == fail_at:
                    raise RuntimeError('injected failure (fault migration-fail-*)')
                new = transform(doc)
                if new == doc:
                    continue
                for other in docs:
                    if other is not doc and _key(other) == _key(new):
                        raise NotUniqueError(
                            'Tried to save duplicate unique keys (E11000 duplicate key error '
                            'collection: st2.key_value_pair_d_b index: uid_1 dup key: '
                            '{ : "key_value_pair:%s:%s" })' % (new.get('scope'), new['name']))
                docs[i] = new
                c.save('kv', docs)       # one document at a time, like add_or_update()
            except Exception:
                print('ERROR: Failed migrating datastore item with name: %s' % doc.get('name'),
                      flush=True)
                traceback.print_exc()
                raise


def main(script):
    argv = sys.argv[1:]
    c.log_command(script, [script] + argv)
    p = argparse.ArgumentParser(prog=script)
    p.add_argument('--config-file', default=None)
    a, _ = p.parse_known_args(argv)
    try:
        c.check_db(cli_config_given=a.config_file is not None)
    except c.DBError as e:
        sys.stderr.write('Traceback (most recent call last):\n  File "%s", line 77, in '
                         '<module>\n    main()\n  File "%s", line 61, in main\n    db_setup()\n'
                         '%s\n' % (script, script, e))
        return 1
    fail_at = None
    if c.fault('migration-fail-%s' % script):
        fail_at = len(c.load('kv')) // 2
    try:
        migrate(SCRIPTS[script], fail_at)
        print('SUCCESS: Datastore items migrated successfully.')
        return 0
    except Exception:  # noqa: BLE001 - the real script catches everything too
        print('ABORTED: Datastore migration aborted on first failure.')
        return 1
