#!/bin/bash
# Builds the lab host image once: Debian bookworm (minbase) + sshd, sudo, PostgreSQL 15, Debian's
# Mistral 15, tini. Cached as $LAB_DIR/image/rootfs-<hash>.tar.zst, where <hash> covers the recipe
# (suite, packages, dpkg options, RECIPE_REVISION and lab/lib/image-customize.sh): a recipe change
# builds a new image. The extracted copy
# $LAB_DIR/image/rootfs-<hash>/ is the shared read-only lower dir of every host's overlayfs.
# usage: image.sh [--rebuild] [--flavor el]   prints the extracted root's path on stdout.
#   --flavor el: the RHEL-family variant for hosts that claim Rocky/RHEL (lab/lib/os.tsv): the same
#   recipe plus Debian's rpm and dnf and lab/lib/image-customize-el.sh (rpm database, `yum` = dnf),
#   cached as rootfs-el-<hash>; the default flavor's recipe, hash and files stay as they are.
# LAB_IMAGE_DIR (default $LAB_DIR/image) lets several lab folders share one image.
set -euo pipefail
# shellcheck source=lab/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

REBUILD=
FLAVOR=
while [ $# -gt 0 ]; do
  case $1 in
    --rebuild) REBUILD=1; shift ;;
    --flavor) FLAVOR=${2:-}; shift 2 || shift ;;
    *) lab_die "usage: image.sh [--rebuild] [--flavor el]" ;;
  esac
done
case $FLAVOR in '' | el) ;; *) lab_die "unknown --flavor '$FLAVOR' (el, or none for the Debian hosts' image)" ;; esac

SUITE=bookworm
PACKAGES=(
  openssh-server sudo postgresql python3 python3-psycopg2 mistral-common tini
  git ca-certificates procps psmisc iproute2 iputils-ping netbase less vim-tiny lsof apt-utils
)
# Keep the image small: no manuals, docs (except copyright) or translations.
DPKG_OPTS=(
  'path-exclude=/usr/share/man/*'
  'path-exclude=/usr/share/doc/*'
  'path-include=/usr/share/doc/*/copyright'
  'path-exclude=/usr/share/locale/*'
  'path-include=/usr/share/locale/locale.alias'
)

# The el flavor: Debian 12's rpm 4.18, dnf 4.14 and dnf-plugins-core 4.3 (config-manager, and the
# versionlock plugin RHEL ships as python3-dnf-plugin-versionlock) on top (no recommends), own hook.
EL_PACKAGES=(rpm dnf dnf-plugins-core)
HOOKS=("$LAB_LIB/image-customize.sh")
NAME_PREFIX=rootfs-
if [ "$FLAVOR" = el ]; then
  PACKAGES+=("${EL_PACKAGES[@]}")
  HOOKS+=("$LAB_LIB/image-customize-el.sh")
  NAME_PREFIX=rootfs-el-
fi

# Bump when the way the image is made changes in this file (mmdebstrap options below).
RECIPE_REVISION=1
recipe_hash() {
  {
    printf '%s\n' "$RECIPE_REVISION" "$SUITE" "${PACKAGES[@]}" "${DPKG_OPTS[@]}"
    cat "${HOOKS[@]}"
  } | sha256sum | cut -c1-12
}

# This machine's own Debian mirror (deb822 or one-line sources), else the default one.
debian_mirror() {
  local m
  m=$(grep -hoP '^(URIs:\s*|deb\s+(\[[^]]*\]\s+)?)\Khttps?://\S+' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | grep -v -e security -e updates | head -1 || true)
  printf '%s' "${MIRROR:-${m:-http://deb.debian.org/debian}}"
}

IMG_DIR=${LAB_IMAGE_DIR:-$LAB_DIR/image}
HASH=$(recipe_hash)
TARBALL=$IMG_DIR/$NAME_PREFIX$HASH.tar.zst
ROOTFS=$IMG_DIR/$NAME_PREFIX$HASH
mkdir -p "$IMG_DIR"
exec 8>"$IMG_DIR/.lock"
flock -w 1800 8 || lab_die "could not lock $IMG_DIR/.lock"

if [ -n "$REBUILD" ]; then
  mountpoint -q "$ROOTFS" 2>/dev/null && lab_die "$ROOTFS is in use"
  if findmnt -rn -t overlay -o OPTIONS | grep -q "lowerdir=$ROOTFS"; then
    lab_die "hosts use $ROOTFS: run lab/bin/down.sh first"
  fi
  rm -rf "$TARBALL" "$ROOTFS"
fi

if [ ! -s "$TARBALL" ]; then
  lab_require mmdebstrap:mmdebstrap zstd:zstd
  MIRROR_URL=$(debian_mirror)
  lab_log "building image $HASH from $MIRROR_URL (takes 1 to 4 minutes)"
  T0=$(lab_now)
  export TMPDIR=$LAB_DIR/tmp
  mkdir -p "$TMPDIR"
  dpkg_args=()
  for o in "${DPKG_OPTS[@]}"; do dpkg_args+=(--dpkgopt="$o"); done
  hook_args=()
  for h in "${HOOKS[@]}"; do hook_args+=(--customize-hook="bash '$h' \"\$1\""); done
  include=$(IFS=,; printf '%s' "${PACKAGES[*]}")
  rm -rf "$ROOTFS.tmp"
  mmdebstrap --quiet --mode=root --variant=minbase \
    --aptopt='APT::Install-Recommends "false"' \
    "${dpkg_args[@]}" \
    --include="$include" \
    "${hook_args[@]}" \
    "$SUITE" "$ROOTFS.tmp" "deb $MIRROR_URL $SUITE main"
  lab_log "image installed in $(lab_since "$T0") s, packing it"
  tar --numeric-owner --xattrs --xattrs-include='*' --acls --sort=name -C "$ROOTFS.tmp" -cf - . \
    | zstd -q -T0 -6 -o "$TARBALL.tmp"
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$ROOTFS"
  mv "$ROOTFS.tmp" "$ROOTFS"
  lab_log "image built in $(lab_since "$T0") s: $TARBALL ($(du -h "$TARBALL" | cut -f1)), $ROOTFS ($(du -sh "$ROOTFS" | cut -f1))"
fi

if [ ! -d "$ROOTFS" ]; then
  lab_require zstd:zstd
  T0=$(lab_now)
  rm -rf "$ROOTFS.tmp"
  mkdir -p "$ROOTFS.tmp"
  tar --numeric-owner --xattrs --xattrs-include='*' --acls -I zstd -C "$ROOTFS.tmp" -xf "$TARBALL"
  mv "$ROOTFS.tmp" "$ROOTFS"
  lab_log "image extracted in $(lab_since "$T0") s: $ROOTFS ($(du -sh "$ROOTFS" | cut -f1))"
fi

# Drop images of older recipes of this flavor that no host uses any more (the other flavor's stay).
for old in "$IMG_DIR/$NAME_PREFIX"*; do
  case $old in "$TARBALL" | "$ROOTFS") continue ;; esac
  [[ ${old#"$IMG_DIR/$NAME_PREFIX"} =~ ^[0-9a-f]{12}(\.tar\.zst)?$ ]] || continue
  base=${old%.tar.zst}
  if findmnt -rn -t overlay -o OPTIONS | grep -q "lowerdir=${base}[,:]"; then continue; fi
  lab_log "removing old image $old"
  rm -rf "$old"
done

printf '%s\n' "$ROOTFS"
