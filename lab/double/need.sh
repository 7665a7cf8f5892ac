# shellcheck shell=bash
# need LABEL CMD:PACKAGE...: installs (apt, no recommends) the package of every CMD not on PATH. For
# the double's standalone build scripts, which run before (and without) the lab's own library.
need() {
    local label=$1 cmd_pkg
    local missing=()
    shift
    for cmd_pkg in "$@"; do
        command -v "${cmd_pkg%%:*}" >/dev/null 2>&1 || missing+=("${cmd_pkg#*:}")
    done
    if ((${#missing[@]})); then
        echo "$label: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
    fi
}
