"""st2-generate-symmetric-crypto-key: the datastore crypto key (JSON, like the real one)."""
import argparse
import os
import sys

from . import common as c


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    c.log_command('st2-generate-symmetric-crypto-key',
                  ['st2-generate-symmetric-crypto-key'] + argv)
    p = argparse.ArgumentParser(prog='st2-generate-symmetric-crypto-key')
    p.add_argument('--key-path', required=True)
    p.add_argument('--force', action='store_true')
    a = p.parse_args(argv)
    if os.path.exists(a.key_path):
        if not a.force:
            print('ERROR: Key "%s" already exists. Use --force to overwrite it.' % a.key_path)
            return 1
        os.unlink(a.key_path)
    c.generate_key(a.key_path)
    print('Key written to "%s"' % a.key_path)
    return 0
