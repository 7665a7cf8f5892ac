/**
 * Bash functions shared by the step scripts. A step includes only the functions it calls, so what
 * the operator reads in preview stays short; each is written once, here.
 */

import { keyListCalls } from "../catalog";
import { q } from "./shell";

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

/**
 * Services that run as `[<interpreter>] <path>/bin/<name> …`: st2's own scripts (real st2 3.8.1 and
 * 3.9.0 recordings, 20-ps-args-st2-services.txt: `/opt/stackstorm/st2/bin/python3
 * /opt/stackstorm/st2/bin/st2actionrunner --config-file /etc/st2/st2.conf`) and Mistral's engine
 * (`/opt/stackstorm/mistral/bin/mistral-server --server engine,executor …`, st2-packages 8c4b0be
 * packages/st2mistral/debian/mistral-server.init).
 */
const SERVICE_SCRIPTS = [
    "st2actionrunner", "st2api", "st2stream", "st2auth", "st2garbagecollector", "st2notifier",
    "st2resultstracker", "st2rulesengine", "st2sensorcontainer", "st2workflowengine",
    "st2timersengine", "st2scheduler", "mistral-server",
];

/**
 * Services served by gunicorn, found by the WSGI module among its arguments: packaged st2api, st2auth,
 * st2stream run `/opt/stackstorm/st2/bin/gunicorn st2api.wsgi:application -k eventlet …` (st2-packages
 * packages/st2/debian/st2api.service), Mistral's API `/opt/stackstorm/mistral/bin/gunicorn --log-file
 * /var/log/mistral/mistral-api.log -b 127.0.0.1:8989 -w 2 mistral.api.wsgi …` (st2-packages 8c4b0be
 * packages/st2mistral/debian/mistral-api.init): the module comes after other options, never right
 * after `gunicorn`.
 */
const WSGI_MODULES = ["st2api", "st2auth", "st2stream", "mistral\\.api"];

/**
 * Lists running StackStorm and Mistral processes, sensor processes (st2's sensor_wrapper.py) included.
 * Anchored at the start of the command line (optionally behind an interpreter) so that this very
 * script, whose text names the services, never matches itself.
 */
export const st2Processes = `st2_processes() {
  pgrep -af '^([^ ]*/)?(python[0-9.]* +)?([^ ]*/)?((${SERVICE_SCRIPTS.join("|")}|sensor_wrapper\\.py)( |$)|gunicorn( .*)? (${WSGI_MODULES.join("|")})\\.wsgi)' || true
}`;

/**
 * Reads \`st2ctl status\` on stdin and prints the services that are not running and are installed.
 * st2ctl prints a line for every component of its list, installed or not (st2chatops from 1.5,
 * Mistral until 3.2: st2 tags' st2common/bin/st2ctl; real 3.8.1/3.9.0 transcripts 10-*, 11-*), so
 * st2chatops counts only with the st2chatops package and Mistral only with st2mistral. No status
 * line at all is itself an answer. Needs pm_installed.
 */
export const st2ctlDown = `st2ctl_down() {
  local line svc seen=""
  while IFS= read -r line; do
    case "$line" in
      *" PID: "*) seen=1; continue ;;
      *" is not running.") seen=1; svc=\${line% is not running.} ;;
      *) continue ;;
    esac
    case "$svc" in
      st2chatops) [ -n "$(pm_installed st2chatops)" ] || continue ;;
      mistral-server|mistral-api|mistral.api) [ -n "$(pm_installed st2mistral)" ] || continue ;;
    esac
    printf '%s\\n' "$svc"
  done
  [ -n "$seen" ] || echo "(st2ctl status printed no service line)"
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

/** Prints "ID VERSION_ID" of the host's /etc/os-release: the distribution preflight reports and a backup is taken on. */
export const osDistro = `os_distro() {
  # shellcheck source=/dev/null
  (. /etc/os-release && printf '%s %s' "\${ID:-unknown}" "\${VERSION_ID:-}")
}`;

/**
 * Lines exporting the whole datastore of st2 `version` as JSON: one \`st2 key list -j\` per listing
 * its release needs to print every key (KEY_LIST_FLAGS), into `<dir>/<prefix>1.json`, 2, … (no bash
 * function: the listings are the release's, known when the script is made).
 */
export function keyExportLines(version: string, dir: string, prefix: string): string[] {
    return keyListCalls(version).map(
        (args, i) =>
            `st2 key list -j ${args.map(q).join(" ")} >"${dir}/${prefix}${i + 1}.json" || die "exporting the datastore failed (st2 key list${args.length ? ` ${args.join(" ")}` : ""}): is st2api running and is root's st2 CLI authenticated?"`,
    );
}
