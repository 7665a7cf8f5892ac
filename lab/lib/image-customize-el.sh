#!/bin/bash
# mmdebstrap --customize-hook of the lab image's el flavor (lab/bin/image.sh --flavor el), run after
# image-customize.sh, OUTSIDE the image: $1 = the image root. Makes the Debian root a RHEL-family
# host as far as packages go: rpm and dnf (Debian's rpm 4.18, dnf 4.14) own StackStorm's packages,
# `yum` is dnf's other name as on RHEL 8 (/usr/bin/yum -> dnf-3), an rpm database that declares what
# Debian's dpkg already installed, and dnf's RHEL 8 defaults. The host's own repository file (the
# lab bridge's address) and `releasever` are written when a host starts (lab/lib/host.sh).
# Part of the el recipe: changing this file changes the el image's hash.
set -euo pipefail
R=$1
in_root() { chroot "$R" "$@"; }

ln -sfn dnf-3 "$R/usr/bin/yum"

# dnf.conf as RHEL 8 ships it (dnf's defaults otherwise differ: best, skip_if_unavailable).
install -d -m 755 "$R/etc/dnf" "$R/etc/dnf/vars" "$R/etc/yum.repos.d"
cat > "$R/etc/dnf/dnf.conf" <<'CONF'
[main]
gpgcheck=1
installonly_limit=3
clean_requirements_on_remove=True
best=True
skip_if_unavailable=False
CONF

# The rpm database where RHEL keeps it (Debian's rpm defaults to ~/.rpmdb, beside dpkg's), so root's
# rpm and dnf, and any user's `rpm -q`, read the same one.
install -d -m 755 "$R/etc/rpm" "$R/var/lib/rpm"
printf '%%_dbpath /var/lib/rpm\n' > "$R/etc/rpm/macros.dbpath"

# The rpm database, with one package that provides what the double's rpms require and Debian's dpkg
# installed (a real Rocky host has these as rpms of their own: python3, git, procps-ng, shadow-utils,
# bash). Built here with the image's own rpmbuild; it installs no file.
in_root rpm --initdb
work=$(in_root mktemp -d /tmp/lab-el-base.XXXXXX)
cat > "$R$work/lab-el-base.spec" <<'SPEC'
Name: lab-el-base
Version: 1
Release: 1
Summary: What the Debian root of a lab host provides, declared to rpm (st2-upgrade lab)
License: none
BuildArch: noarch
Provides: python3 = 3.11, /usr/bin/python3, git, procps-ng, shadow-utils, bash, /bin/bash, /bin/sh, coreutils
%description
The lab's RHEL-family hosts are Debian underneath: these are installed by dpkg.
%files
SPEC
in_root rpmbuild -bb --quiet --define "_topdir $work" "$work/lab-el-base.spec" >/dev/null
in_root sh -c "rpm -i --quiet $work/RPMS/noarch/lab-el-base-1-1.noarch.rpm"
rm -rf "${R:?}$work"
