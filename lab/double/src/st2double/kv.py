"""The key-value datastore, in each era's own document format.

  <= 1.4 : {_id, name, value, expire_timestamp}
  1.5-2.0: {_id, name, value, secret, encrypted, scope: system|user, user}
  2.1+   : {_id, name, value, secret, encrypted, scope: st2kv.system|st2kv.user, user}

A version only sees documents whose scope it knows (its API filters by scope in
the query): after an upgrade, documents written by an older era look lost until
the migration scripts have rewritten them.
"""
import datetime

from . import common as c


def era():
    if not c.at_least('1.5'):
        return 'v14'
    if not c.at_least('2.1'):
        return 'v15'
    return 'v21'


def system_scope():
    return {'v14': None, 'v15': 'system', 'v21': 'st2kv.system'}[era()]


def user_scope():
    return {'v14': None, 'v15': 'user', 'v21': 'st2kv.user'}[era()]


def cli_scopes():
    """Values accepted by -s/--scope."""
    e = era()
    if e == 'v14':
        return []
    if e == 'v15':
        return ['system', 'user']
    return ['system', 'user', 'st2kv.system', 'st2kv.user', 'all']


def full_scope(cli_scope):
    if era() == 'v15':
        return cli_scope
    return {'system': 'st2kv.system', 'user': 'st2kv.user'}.get(cli_scope, cli_scope)


def visible(doc):
    e = era()
    if e == 'v14':
        return True            # 1.4 had no scopes: it reads every document
    if e == 'v15':
        return doc.get('scope') in ('system', 'user')
    return doc.get('scope') in ('st2kv.system', 'st2kv.user')


def expired(doc):
    ts = doc.get('expire_timestamp')
    if not ts:
        return False
    try:
        t = datetime.datetime.strptime(ts[:19], '%Y-%m-%dT%H:%M:%S').replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return False
    return t < datetime.datetime.now(datetime.timezone.utc)


def live_docs():
    """Visible, unexpired documents (expired ones are purged like the TTL index does)."""
    docs = c.load('kv')
    keep = [d for d in docs if not expired(d)]
    if len(keep) != len(docs):
        c.save('kv', keep)
    return [d for d in keep if visible(d)]


def find(docs, name, scope, user=None):
    for d in docs:
        if d.get('name') == name and d.get('scope') == scope and \
                (scope not in ('user', 'st2kv.user') or d.get('user') == user):
            return d
    return None


def make_doc(name, value, scope=None, user=None, secret=False, encrypted_value=None,
             ttl=None, _id=None):
    """A new document in THIS version's format."""
    doc = {'_id': _id or c.new_id(), 'name': name}
    if ttl:
        doc['expire_timestamp'] = (datetime.datetime.now(datetime.timezone.utc) +
                                   datetime.timedelta(seconds=int(ttl))).strftime(
                                       '%Y-%m-%dT%H:%M:%S.%fZ')
    if era() == 'v14':
        doc['value'] = value
        return doc
    if encrypted_value is not None:
        doc['value'] = encrypted_value
        secret = True
    elif secret:
        doc['value'] = c.encrypt(value)
    else:
        doc['value'] = value
    doc['secret'] = bool(secret)
    doc['encrypted'] = bool(secret)
    doc['scope'] = scope or system_scope()
    if doc['scope'] == user_scope():
        doc['user'] = user
    return doc


def upsert(doc):
    docs = c.load('kv')

    def same(d):
        same_scope = (era() == 'v14' and 'scope' not in d) or d.get('scope') == doc.get('scope')
        return d.get('name') == doc['name'] and same_scope and d.get('user') == doc.get('user')
    c.upsert(docs, doc, same)
    c.save('kv', docs)


def api_view(doc, decrypt=False):
    """What `st2 key list -j` / `st2 key get -j` print (null fields dropped)."""
    if era() == 'v14':
        out = {'name': doc['name'], 'value': doc.get('value'),
               'expire_timestamp': doc.get('expire_timestamp')}
        return {k: v for k, v in out.items() if v is not None}
    out = {'name': doc['name'], 'value': doc.get('value'),
           'secret': bool(doc.get('secret', False)),
           'encrypted': bool(doc.get('secret', False)),
           'scope': doc.get('scope'), 'user': doc.get('user'),
           'expire_timestamp': doc.get('expire_timestamp')}
    if decrypt and doc.get('secret'):
        out['value'] = c.decrypt(doc['value'])
        out['encrypted'] = False
    return {k: v for k, v in out.items() if v is not None}
