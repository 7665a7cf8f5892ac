/**
 * Bash functions shared by the step scripts. A step includes only the functions it calls, so what
 * the operator reads in preview stays short; each is written once, here.
 */

export const versionGe = `version_ge() { [ "$(printf '%s\\n%s\\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]; }`;

/** Prints the value of \`key\` in \`[section]\` of an ini file; fails when absent. */
export const iniGet = `ini_get() {
  awk -v section="$2" -v key="$3" '
    /^[[:space:]]*\\[/ { in_section = ($0 ~ "^[[:space:]]*\\\\[" section "\\\\][[:space:]]*$"); next }
    in_section && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" { sub(/^[^=]*=[[:space:]]*/, ""); print; found = 1; exit }
    END { exit !found }' "$1"
}`;

/**
 * Rewrites an ini file through awk: \`ini_edit FILE AWK_PROGRAM VARS...\`. Writes back through the
 * same inode so ownership and mode stay.
 */
export const iniEdit = `ini_edit() {
  local file=$1 program=$2 tmp
  shift 2
  tmp=$(mktemp)
  awk "$@" "$program" "$file" >"$tmp"
  cat "$tmp" >"$file"
  rm -f "$tmp"
}`;

/** Service names of StackStorm and Mistral, as they appear at the start of a process command line. */
const SERVICE_PROCESSES = [
    "st2actionrunner", "st2api", "st2stream", "st2auth", "st2garbagecollector", "st2notifier",
    "st2resultstracker", "st2rulesengine", "st2sensorcontainer", "st2workflowengine",
    "st2timersengine", "st2scheduler", "mistral-server", "mistral-api",
];

/**
 * Lists running StackStorm and Mistral processes. Anchored at the start of the command line
 * (optionally behind an interpreter or gunicorn) so that this very script, whose text names the
 * services, never matches itself.
 */
export const st2Processes = `st2_processes() {
  pgrep -af '^([^ ]*/)?(python[0-9.]* +)?([^ ]*/)?(gunicorn +)?(${SERVICE_PROCESSES.join("|")})([ .]|$)' || true
}`;

export const serviceExists = `service_exists() {
  [ -e "/etc/init.d/$1" ] || [ -e "/lib/systemd/system/$1.service" ] || [ -e "/usr/lib/systemd/system/$1.service" ] || [ -e "/etc/systemd/system/$1.service" ]
}`;

/** Reads the Mistral database URL from mistral.conf, in the form psql and pg_dump accept. */
export const mistralDbUrl = `mistral_db_url() {
  local url
  url=$(ini_get "$1" database connection) || die "no [database] connection in $1"
  printf '%s\\n' "$url" | sed -E 's#^postgresql\\+[a-z0-9]+://#postgresql://#'
}`;

export const psql = `psql_q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }`;

/**
 * Prints, one per line, the install tokens that bring the installed packages among \`PKGS\` to
 * \`VERSION\`; packages not installed, or already there, are left out. Needs the pm_* functions.
 */
export const legPins = `leg_pins() {
  local version=$1 p cur
  shift
  for p in "$@"; do
    cur=$(pm_installed "$p")
    if [ -z "$cur" ]; then continue; fi
    if version_ge "\${cur%%-*}" "$version"; then
      log "$p $cur is already at or past $version" >&2
      continue
    fi
    pm_resolve "$p" "$version"
  done
}`;
