#!/usr/bin/env bash
# Runs this project's pulumi: `npm run pulumi -- ARGS` or `bash scripts/pulumi.sh ARGS`.
# Provides the toolchain first when needed (scripts/toolchain.sh, quiet when it is already there),
# sets the project's environment (scripts/pulumi-env.sh: bin folder first on PATH, no update check,
# no plugin downloads, the local file backend and its passphrase unless you chose your own backend),
# then runs `pulumi ARGS`.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=pulumi-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/pulumi-env.sh"

bin="$(bash "$ST2_ROOT/scripts/toolchain.sh" --quiet | tail -n 1)"
st2_pulumi_env "$bin"
exec "$bin/pulumi" "$@"
