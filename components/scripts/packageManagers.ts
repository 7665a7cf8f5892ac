/**
 * Per-package-manager strategies: the same five bash functions for apt and yum, so that steps are
 * written once against this interface.
 *
 *   pm_installed PKG        prints the installed VERSION-REVISION, nothing when not installed
 *   pm_resolve PKG VERSION  prints the install token of the newest revision of VERSION in the
 *                           repositories (`st2web=3.4.0-3`; revisions differ between packages)
 *   pm_refresh              refreshes the repository metadata
 *   pm_fetch TOKEN...       downloads without installing, so the outage only installs
 *   pm_upgrade TOKEN...     upgrades to exactly these versions, keeping local config files
 *   pm_repair               finishes a transaction a previous failure interrupted
 *
 * and, for backups and restores (`keep`):
 *
 *   pm_keep PKG VERSION DIR  puts the package file of exactly PKG VERSION-REVISION into DIR (from the
 *                            package cache, else downloaded) and prints its name
 *   pm_file_id FILE          prints "NAME VERSION-REVISION" of a package file
 *   pm_restore FILE...       installs exactly these package files, downgrades allowed, keeping the
 *                            configuration files on disk (the restore puts back its own)
 */

export interface PackageManagerStrategy {
    name: "apt" | "yum";
    /** Where downloads land: preflight checks its free space. */
    cacheDir: string;
    /** The command whose presence proves the host uses this package manager. */
    binary: string;
    /** pm_installed: all that read-only steps need. */
    query: string;
    /** The other pm_* functions, for the steps that download or install. */
    install: string;
    /** pm_keep, pm_file_id and pm_restore: the package files a backup keeps and a restore installs. */
    keep: string;
}

const apt: PackageManagerStrategy = {
    name: "apt",
    cacheDir: "/var/cache/apt/archives",
    binary: "apt-get",
    query: `pm_installed() { dpkg-query -W -f='\${db:Status-Abbrev} \${Version}\\n' "$1" 2>/dev/null | awk '$1 ~ /^[ih]i$/ { print $2 }' || true; }`,
    // Waits for the dpkg lock instead of failing: after a dropped connection the previous run's apt
    // may still be finishing on the host.
    install: `export DEBIAN_FRONTEND=noninteractive
readonly APT_LOCK=(-o DPkg::Lock::Timeout=600)
pm_resolve() {
  local found
  found=$(apt-cache madison "$1" | awk -F'|' -v want="$2" '{ gsub(/ /, "", $2); if (index($2, want "-") == 1) print $2 }' | sort -V | tail -n 1)
  [ -n "$found" ] || die "no $1 $2-* in the apt repositories (apt-cache madison $1): is the StackStorm $2 repository configured?"
  printf '%s=%s\\n' "$1" "$found"
}
pm_refresh() { apt-get "\${APT_LOCK[@]}" update -q; }
pm_fetch() { apt-get "\${APT_LOCK[@]}" install -y -q --download-only --no-remove "$@"; }
pm_upgrade() { apt-get "\${APT_LOCK[@]}" install -y -q --only-upgrade --no-remove -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"; }
pm_repair() {
  local out tries=0
  until out=$(dpkg --configure -a 2>&1); do
    case "$out" in
      *lock*) [ "$tries" -lt 300 ] || die "dpkg has been locked by another process for 600 s"; tries=$((tries + 1)); sleep 2 ;;
      *) printf '%s\\n' "$out" >&2; die "dpkg --configure -a failed" ;;
    esac
  done
}`,
    // The cache first: it holds what the host installed unless cleaned, and needs no repository.
    // A .deb's file name spells an epoch's colon as %3a.
    keep: `# shellcheck disable=SC2016  # \${Package} is dpkg-deb's format, not bash's
pm_file_id() { dpkg-deb -W --showformat='\${Package} \${Version}\\n' "$1"; }
pm_keep() {
  local found file="$1_\${2//:/%3a}_*.deb"
  found=$(find /var/cache/apt/archives -maxdepth 1 -name "$file" | head -n 1)
  if [ -n "$found" ] && [ "$(pm_file_id "$found")" = "$1 $2" ]; then
    cp -- "$found" "$3/"
  else
    (cd "$3" && apt-get -q download "$1=$2" >&2) || return 1
    found=$(find "$3" -maxdepth 1 -name "$file" | head -n 1)
    [ -n "$found" ] || return 1
  fi
  basename "$found"
}
pm_restore() {
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --allow-downgrades --no-remove -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}`,
};

/** Where the yum strategy remembers, across runs, packages whose scriptlets must run again. */
export const YUM_REINSTALL_FILE = "/var/lib/st2-upgrade/yum-reinstall";

/**
 * RHEL/CentOS 7 (yum 3) and RHEL/Rocky 8 and 9 (dnf 4, which they also install as `yum`), run for
 * real against dnf 4.14 and rpm 4.18 in the lab (tests/e2e/yum.test.ts). What real dnf and rpm do
 * that these functions answer:
 * - `yum list` shows an epoch as `1:` (StackStorm's st2 rpms had Epoch 1 from 2016 until 2020,
 *   st2-packages 70717b2 and 6fba855), and a `name.arch` too long for its column is printed on a
 *   line of its own, the rest of the row on the next.
 * - `rpm -q` prints one line per installed instance: an interrupted transaction leaves two.
 * - A failing %post does not fail the transaction: rpm keeps the new files, prints "%post(NEVRA)
 *   scriptlet failed", and dnf exits 0 (measured: dnf 4.14); only a reinstall runs that scriptlet
 *   again. So failed scriptlets of installed packages fail the step and are remembered
 *   (YUM_REINSTALL_FILE) for `pm_repair` to reinstall on the next run. A failing %pre leaves the
 *   package out, dnf exits 1 ("Transaction failed"), the rest of the transaction stays upgraded.
 * - yum 3 exits 0 when an argument matches no package (dnf 4 exits 1): every token must be installed after.
 * - A versionlock (dnf's plugin, yum's yum-plugin-versionlock) on a StackStorm package hides every
 *   other version: resolving, downloading and upgrading bypass it (`--disableplugin=versionlock`:
 *   this upgrade is the deliberate change a lock guards against), and after the upgrade the lock is
 *   moved to the installed version, so the operator's lock still holds.
 * - `makecache` keeps metadata younger than the repository's `metadata_expire` (dnf's default is 48
 *   hours): a release published since would not be found, so the cache is expired first.
 */
const yum: PackageManagerStrategy = {
    name: "yum",
    cacheDir: "/var/cache",
    binary: "yum",
    query: `pm_installed() { if rpm -q "$1" >/dev/null 2>&1; then rpm -q --qf '%{VERSION}-%{RELEASE}\\n' "$1" | sort -V | tail -n 1; fi; }`,
    install: `pm_resolve() {
  local found
  found=$(yum -q --disableplugin=versionlock --showduplicates list available "$1" 2>/dev/null | awk -v pkg="$1" -v want="$2" '
    NF == 1 && index($1, pkg ".") == 1 { held = $1; next }
    held != "" { $0 = held " " $0; held = "" }
    index($1, pkg ".") == 1 { v = $2; sub(/^[0-9]+:/, "", v); if (index(v, want "-") == 1) print v }' | sort -V | tail -n 1)
  [ -n "$found" ] || die "no $1 $2-* in the yum repositories (yum --showduplicates list $1): is the StackStorm $2 repository configured?"
  printf '%s-%s\\n' "$1" "$found"
}
pm_refresh() { yum -q -y clean expire-cache >/dev/null && yum -q -y makecache; }
pm_fetch() { yum -q -y --disableplugin=versionlock install --downloadonly "$@"; }
pm_locks() {
  local entry name
  yum -q versionlock list 2>/dev/null | while read -r entry; do
    for name in "$@"; do
      case "$entry" in "$name"-[0-9]* | [0-9]*:"$name"-[0-9]*) printf '%s\\n' "$entry" ;; esac
    done
  done
}
pm_move_locks() {
  local names=() locks=() t lock
  for t in "$@"; do names+=("\${t%-*-*}"); done
  mapfile -t locks < <(pm_locks "\${names[@]}")
  [ "\${#locks[@]}" -gt 0 ] || return 0
  names=()
  for lock in "\${locks[@]}"; do for t in "$@"; do case "$lock" in "\${t%-*-*}"-[0-9]* | [0-9]*:"\${t%-*-*}"-[0-9]*) names+=("\${t%-*-*}") ;; esac; done; done
  yum -q -y versionlock delete "\${locks[@]}" >/dev/null
  yum -q -y versionlock add "\${names[@]}" >/dev/null
  echo "versionlock: \${locks[*]} replaced by $(pm_locks "\${names[@]}" | paste -sd ' ')"
}
pm_remember_failed_scriptlets() {
  local nevra
  sed -nE 's/.*%[a-z]+\\(([^)]+)\\) scriptlet failed.*/\\1/p' "$1" | sort -u | while read -r nevra; do
    if rpm -q "$nevra" >/dev/null 2>&1; then
      install -d -m 755 "$(dirname ${YUM_REINSTALL_FILE})"
      printf '%s\\n' "$nevra" >>${YUM_REINSTALL_FILE}
    fi
  done
}
pm_upgrade() {
  local out rc=0 t missing=""
  out=$(mktemp)
  yum -y --disableplugin=versionlock update "$@" 2>&1 | tee "$out" || rc=$?
  pm_remember_failed_scriptlets "$out"
  rm -f "$out"
  [ "$rc" -eq 0 ] || return "$rc"
  if [ -s ${YUM_REINSTALL_FILE} ]; then
    echo "a package scriptlet failed (see above) though yum exited 0: the next run reinstalls $(sort -u ${YUM_REINSTALL_FILE} | paste -sd ' ') to run it again" >&2
    return 1
  fi
  for t in "$@"; do rpm -q "$t" >/dev/null 2>&1 || missing+=" $t"; done
  [ -z "$missing" ] || { echo "yum exited 0 but rpm has not got:$missing" >&2; return 1; }
  pm_move_locks "$@"
}
pm_repair() {
  local out rc=0
  if command -v yum-complete-transaction >/dev/null; then yum-complete-transaction -y; fi
  if [ -s ${YUM_REINSTALL_FILE} ]; then
    mapfile -t again < <(sort -u ${YUM_REINSTALL_FILE})
    log "reinstalling \${again[*]}: a scriptlet of theirs failed in an earlier run"
    out=$(mktemp)
    yum -y --disableplugin=versionlock reinstall "\${again[@]}" 2>&1 | tee "$out" || rc=$?
    if [ "$rc" -ne 0 ]; then rm -f "$out"; die "reinstalling \${again[*]} failed (see above); the next run tries again"; fi
    rm -f ${YUM_REINSTALL_FILE}
    pm_remember_failed_scriptlets "$out"
    rm -f "$out"
    [ ! -s ${YUM_REINSTALL_FILE} ] || die "a scriptlet of \${again[*]} failed again (see above)"
  fi
}`,
    // dnf keeps downloads only with keepcache; yum 3 has yumdownloader (yum-utils), dnf `download`
    // (dnf-plugins-core, which dnf's versionlock already needs).
    keep: `pm_file_id() { rpm -qp --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' "$1" 2>/dev/null; }
pm_keep() {
  local found="" f file="$1-$2.*.rpm"
  while IFS= read -r f; do
    if [ "$(pm_file_id "$f")" = "$1 $2" ]; then found=$f; break; fi
  done < <(find /var/cache/dnf /var/cache/yum -name "$file" 2>/dev/null)
  if [ -n "$found" ]; then
    cp -- "$found" "$3/"
  else
    if command -v yumdownloader >/dev/null; then
      yumdownloader -q --destdir "$3" "$1-$2" >&2 || return 1
    else
      yum -q -y --disableplugin=versionlock download --destdir "$3" "$1-$2" >&2 || return 1
    fi
    found=$(find "$3" -maxdepth 1 -name "$file" | head -n 1)
    [ -n "$found" ] || return 1
  fi
  basename "$found"
}
pm_restore() { yum -y --disableplugin=versionlock downgrade "$@"; }`,
};

export function packageManager(name: "apt" | "yum"): PackageManagerStrategy {
    return name === "apt" ? apt : yum;
}
