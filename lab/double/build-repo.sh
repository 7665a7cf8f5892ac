#!/bin/bash
# Build the StackStorm test double's Debian packages and a flat apt repository.
# usage: lab/double/build-repo.sh OUT_DIR
#   OUT_DIR gets *.deb, Packages, Packages.gz, Release and .source-hash.
#   Serve it and use:  deb [trusted=yes] http://HOST:PORT/ ./
# No network (except `apt-get install` of dpkg-dev if it is missing).  Deterministic:
# same sources -> same bytes; skipped when the sources' hash is unchanged.
set -euo pipefail

OUT=${1:?usage: build-repo.sh OUT_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LC_ALL=C.UTF-8 LANG=C.UTF-8 TZ=UTC
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

# shellcheck source=lab/double/need.sh
. "$HERE/need.sh"
need build-repo dpkg-deb:dpkg dpkg-scanpackages:dpkg-dev gzip:gzip python3:python3 sha256sum:coreutils

# Hash of everything that goes into the packages.
source_hash() {
    (
        cd "$HERE"
        find build-repo.sh index-repo.sh versions.tsv src tools -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z |
            xargs -0 sha256sum
    ) | sha256sum | cut -d' ' -f1
}
HASH=$(source_hash)
if [[ -f $OUT/.source-hash && $(cat "$OUT/.source-hash") == "$HASH" && -f $OUT/Packages.gz ]]; then
    echo "build-repo: $OUT is up to date (sources $HASH)"
    exit 0
fi

mkdir -p "$(dirname "$OUT")"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/st2-double-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
umask 022
python3 "$HERE/tools/stage.py" "$HERE" "$WORK/stage"
mkdir -p "$WORK/repo"
for d in "$WORK"/stage/*/; do
    d=${d%/}
    find "$d" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    base=$(basename "$d")                       # <package>_<version>
    dpkg-deb --root-owner-group -Zgzip -z9 --build "$d" "$WORK/repo/${base}_all.deb" >/dev/null
done
bash "$HERE/index-repo.sh" "$WORK/repo" "st2-upgrade lab" "StackStorm test double"
echo "$HASH" >"$WORK/repo/.source-hash"
# Update OUT in place (a web server or a bind mount keeps pointing at it): new
# packages first, then stale ones removed, the indexes last.
mkdir -p "$OUT"
for f in "$WORK"/repo/*.deb; do
    mv -f "$f" "$OUT/"
done
for f in "$OUT"/*.deb; do
    [[ -e $f ]] || continue
    grep -q "^Filename: ./$(basename "$f")\$" "$WORK/repo/Packages" || rm -f "$f"
done
for f in Packages Packages.gz Release .source-hash; do
    mv -f "$WORK/repo/$f" "$OUT/$f"
done
echo "build-repo: $(find "$OUT" -name '*.deb' | wc -l) packages in $OUT (sources $HASH)"
