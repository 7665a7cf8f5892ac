#!/usr/bin/env bash
# Builds the bench's apt repository: a copy of the lab's repository (lab/double, built by
# lab/bin/up.sh into .lab/repo) in which the target st2 package carries an incompressible payload,
# so that it weighs what a real st2 3.x package weighs and its download takes real time.
#
# usage: bench/build-repo.sh LAB_REPO OUT_DIR PACKAGE_FILE PAYLOAD_BYTES
#   e.g. bench/build-repo.sh .lab/repo bench/out/repo st2_3.9.0-1_all.deb 104857600
# OUT_DIR gets every .deb of LAB_REPO (hard links; the lab replaces its files, never rewrites them),
# PACKAGE_FILE rebuilt with /opt/stackstorm/st2/share/bench-payload.bin (PAYLOAD_BYTES random bytes,
# gzip -1: random data does not compress, so the .deb is that big), and fresh Packages, Packages.gz,
# Release (written by the lab's lab/double/index-repo.sh). Skipped when OUT_DIR/.stamp matches (lab
# repo index, package, size, this script and the index writer).
# Prints the size of the rebuilt package in bytes on its last line.
set -euo pipefail

LAB_REPO=${1:?usage: build-repo.sh LAB_REPO OUT_DIR PACKAGE_FILE PAYLOAD_BYTES}
OUT=${2:?usage: build-repo.sh LAB_REPO OUT_DIR PACKAGE_FILE PAYLOAD_BYTES}
PACKAGE=${3:?usage: build-repo.sh LAB_REPO OUT_DIR PACKAGE_FILE PAYLOAD_BYTES}
PAYLOAD_BYTES=${4:?usage: build-repo.sh LAB_REPO OUT_DIR PACKAGE_FILE PAYLOAD_BYTES}

die() { printf 'bench/build-repo: ERROR: %s\n' "$*" >&2; exit 1; }
[[ -f $LAB_REPO/Packages ]] || die "$LAB_REPO/Packages not found: bring the lab up once (npm run lab:up) so it builds its repository"
[[ -f $LAB_REPO/$PACKAGE ]] || die "$LAB_REPO/$PACKAGE not found"
[[ $PAYLOAD_BYTES =~ ^[0-9]+$ ]] || die "PAYLOAD_BYTES must be a number of bytes, got $PAYLOAD_BYTES"

INDEX=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lab/double/index-repo.sh
stamp=$(cat "$LAB_REPO/Packages" "$0" "$INDEX" <(printf '%s %s\n' "$PACKAGE" "$PAYLOAD_BYTES") | sha256sum | cut -d' ' -f1)
if [[ -f $OUT/.stamp && $(cat "$OUT/.stamp") == "$stamp" && -f $OUT/$PACKAGE ]]; then
    stat -c %s "$OUT/$PACKAGE"
    exit 0
fi

rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/st2-bench-repo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for deb in "$LAB_REPO"/*.deb; do
    [[ $(basename "$deb") == "$PACKAGE" ]] && continue
    ln "$deb" "$OUT/" 2>/dev/null || cp -p "$deb" "$OUT/"
done

tree=$WORK/tree
dpkg-deb -R "$LAB_REPO/$PACKAGE" "$tree"
install -d "$tree/opt/stackstorm/st2/share"
head -c "$PAYLOAD_BYTES" /dev/urandom >"$tree/opt/stackstorm/st2/share/bench-payload.bin"
# Installed-Size (KiB) as dpkg-gencontrol would compute it, so apt's space checks see the real size.
kib=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
sed -i "s/^Installed-Size: .*/Installed-Size: $kib/" "$tree/DEBIAN/control"
grep -q '^Installed-Size:' "$tree/DEBIAN/control" || printf 'Installed-Size: %s\n' "$kib" >>"$tree/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip -z1 --build "$tree" "$OUT/$PACKAGE" >/dev/null

bash "$INDEX" "$OUT" "st2-upgrade bench" "StackStorm test double, realistic package sizes"
echo "$stamp" >"$OUT/.stamp"
stat -c %s "$OUT/$PACKAGE"
