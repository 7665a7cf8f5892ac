#!/bin/bash
# v2.1 migration: runners are registered like other content (lab double of
# st2common/bin/migrations/v2.1/st2-migrate-runners.sh).
set -uo pipefail
SCRIPT=st2-migrate-runners.sh
python3 -c 'import sys; sys.path.insert(0, "/opt/stackstorm/st2/lib")
from st2double import common as c; c.log_command(sys.argv[1], sys.argv[1:])' "$SCRIPT" "$@"
FAULT=/etc/st2-double/faults/migration-fail-$SCRIPT
if [[ -e $FAULT ]]; then
    rm -f "$FAULT"
    echo "Failed registering runners."
    exit 1
fi
if /usr/bin/st2ctl reload --register-runners --register-fail-on-failure; then
    echo "Registered runners successfully."
    exit 0
fi
echo "Failed registering runners."
exit 1
