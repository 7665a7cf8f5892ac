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
};

const yum: PackageManagerStrategy = {
    name: "yum",
    cacheDir: "/var/cache",
    binary: "yum",
    query: `pm_installed() { if rpm -q "$1" >/dev/null 2>&1; then rpm -q --qf '%{VERSION}-%{RELEASE}\\n' "$1" | tail -n 1; fi; }`,
    install: `pm_resolve() {
  local found
  found=$(yum -q --showduplicates list available "$1" 2>/dev/null | awk -v pkg="$1" -v want="$2" 'index($1, pkg ".") == 1 && index($2, want "-") == 1 { print $2 }' | sort -V | tail -n 1)
  [ -n "$found" ] || die "no $1 $2-* in the yum repositories (yum --showduplicates list $1): is the StackStorm $2 repository configured?"
  printf '%s-%s\\n' "$1" "$found"
}
pm_refresh() { yum -q -y makecache; }
pm_fetch() { yum -q -y install --downloadonly "$@"; }
pm_upgrade() { yum -y update "$@"; }
pm_repair() { if command -v yum-complete-transaction >/dev/null; then yum-complete-transaction -y; fi; }`,
};

export function packageManager(name: "apt" | "yum"): PackageManagerStrategy {
    return name === "apt" ? apt : yum;
}
