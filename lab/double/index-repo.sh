#!/bin/bash
# Writes the index of a flat apt repository: Packages, Packages.gz and Release (SHA256 of both) for
# the .deb files in DIR, as `deb [trusted=yes] http://HOST:PORT/ ./` reads them. The one place the
# lab's repository (build-repo.sh) and the bench's (bench/build-repo.sh) get their index.
# usage: lab/double/index-repo.sh DIR ORIGIN LABEL
#   Release's Date is SOURCE_DATE_EPOCH when set (a deterministic build), else now.
set -euo pipefail

DIR=${1:?usage: index-repo.sh DIR ORIGIN LABEL}
ORIGIN=${2:?usage: index-repo.sh DIR ORIGIN LABEL}
LABEL=${3:?usage: index-repo.sh DIR ORIGIN LABEL}

cd "$DIR"
dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages
gzip -9 -n -c Packages >Packages.gz
{
    echo "Origin: $ORIGIN"
    echo "Label: $LABEL"
    echo "Suite: ./"
    echo "Date: $(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" '+%a, %d %b %Y %H:%M:%S UTC')"
    echo "SHA256:"
    for f in Packages Packages.gz; do
        printf ' %s %s %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
    done
} >Release
