#!/bin/bash
# Build the StackStorm test double's .rpm packages and a dnf/yum repository (repodata/).
# usage: lab/double/build-rpm-repo.sh OUT_DIR
#   OUT_DIR gets <name>-<version>-<release>.<arch>.rpm and repodata/ (createrepo_c). Serve it and use
#   a repo file with baseurl=http://HOST:PORT/<OUT_DIR's name>/ and gpgcheck=0.
# The same payloads as the .debs (tools/stage.py), packed by tools/rpm.py with rpmbuild, for the
# StackStorm versions of EL_VERSIONS only. No network (except `apt-get install` of rpm and
# createrepo-c if they are missing). Skipped when OUT_DIR/.source-hash matches the sources.
set -euo pipefail

OUT=${1:?usage: build-rpm-repo.sh OUT_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LC_ALL=C.UTF-8 LANG=C.UTF-8 TZ=UTC
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

# Versions StackStorm published for EL 8 among those the double emulates: 3.8 supports EL 7 and 8,
# 3.9 EL 8 and 9 (components/catalog/releases.ts, from st2docs v3.8/v3.9 install/system_requirements.rst).
EL_VERSIONS=(3.8.1 3.9.0)

# shellcheck source=lab/double/need.sh
. "$HERE/need.sh"
need build-rpm-repo rpmbuild:rpm createrepo_c:createrepo-c python3:python3 sha256sum:coreutils

source_hash() {
    (
        cd "$HERE"
        printf '%s\n' "${EL_VERSIONS[@]}"
        find build-rpm-repo.sh versions.tsv src tools -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z |
            xargs -0 sha256sum
    ) | sha256sum | cut -d' ' -f1
}
HASH=$(source_hash)
if [[ -f $OUT/.source-hash && $(cat "$OUT/.source-hash") == "$HASH" && -f $OUT/repodata/repomd.xml ]]; then
    echo "build-rpm-repo: $OUT is up to date (sources $HASH)"
    exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/st2-double-rpm.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
umask 022
python3 "$HERE/tools/stage.py" "$HERE" "$WORK/stage"
find "$WORK/stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
# rpmbuild keeps its database and macros of the build user out of it: a private HOME.
HOME=$WORK python3 "$HERE/tools/rpm.py" "$HERE" "$WORK/stage" "$WORK/repo" "${EL_VERSIONS[@]}"
createrepo_c --quiet --no-database --set-timestamp-to-revision --revision "$SOURCE_DATE_EPOCH" "$WORK/repo" >/dev/null
echo "$HASH" >"$WORK/repo/.source-hash"
# Replace OUT whole (one rename): the server keeps serving the old one until then.
mkdir -p "$(dirname "$OUT")"
rm -rf "$OUT.old"
if [[ -e $OUT ]]; then mv "$OUT" "$OUT.old"; fi
mv "$WORK/repo" "$OUT"
rm -rf "$OUT.old"
echo "build-rpm-repo: $(find "$OUT" -name '*.rpm' | wc -l) packages in $OUT (sources $HASH)"
