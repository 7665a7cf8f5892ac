/**
 * The roll-over's scripts that run on a host, as pure functions of its settings: made by `stepScript`
 * (strict bash, sudo -n, timeout) like every other host script. The operator's side, which connects
 * both hosts, is in local-scripts.ts; the pack rules the config checks too are in packs.ts.
 *
 * Secrets never appear in script text: a host script that needs st2 credentials reads them from its
 * stdin (two lines, user then password) and writes a CLI config only root can read, removed on exit.
 */
import { keyExportListings } from "../catalog/datastore";
import { packEra } from "../catalog/rollover";
import { q, stepScript, type ScriptIdentity, type StepScript } from "../scripts/shell";
import { packProblems, packsByRepo, type Pack } from "./packs";

/** One end of the roll-over, as the scripts see it. */
export interface ScriptHost {
    /** Names the host in messages and the audit-log folder. */
    name: string;
    version: string;
    /** The config key of this host, named by errors: `rollover.oldHost`. */
    configKey: string;
}

/** A private folder removed on exit: the only place decrypted values or credentials touch disk. */
export const WORKDIR = [`umask 077`, `work=$(mktemp -d "\${TMPDIR:-/tmp}/st2-upgrade-rollover.XXXXXX")`, `trap 'rm -rf "$work"' EXIT`];

/**
 * Reads two lines of stdin (st2 user, password). When a user is given, the st2 CLI logs in with them
 * through a config file in the private folder (`st2 key load` needs an auth token: ansible-st2 #153);
 * otherwise root's own ~/.st2/config is used.
 */
const st2Login = `st2_login() {
  local user="" password=""
  IFS= read -r user || true
  IFS= read -r password || true
  if [ -n "$user" ]; then
    printf '[credentials]\\nusername = %s\\npassword = %s\\n' "$user" "$password" >"$work/cli.conf"
    export ST2_CONFIG_FILE="$work/cli.conf"
  fi
}`;

/** The first error line st2 printed (its messages name keys, never values), shortened. */
/**
 * The first ERROR line of the given files (else their last non-blank line), shortened. Real st2
 * prints its errors on stdout, not stderr (real-st2 3.8.1 and 3.9.0 transcripts 38d and 65), so a
 * failed call's stdout file is read too: it holds the error, never a value, when the call failed.
 */
const st2Error = `st2_error() { { cat -- "$@" | grep -m 1 '^ERROR' || cat -- "$@" | awk 'NF' | tail -n 1; } | cut -c 1-300; }`;

/** Prints the first non-blank character of a file (`[` for a JSON list). */
const firstChar = `first_char() { awk 'NF { print substr($1, 1, 1); exit }' "$1"; }`;

function authHint(host: ScriptHost): string {
    return `root's st2 CLI must log in: set ${host.configKey}.st2 (username, password) or write /root/.st2/config`;
}

function versionCheck(host: ScriptHost): string[] {
    return [
        `command -v st2 >/dev/null || die ${q(`st2 is not installed on this host (${host.configKey})`)}`,
        `cli=$(st2 --version 2>&1 | head -n 1 || true)`,
        `case "$cli" in ${q(`st2 ${host.version}`)}|${q(`st2 ${host.version},`)}*) ;; *) die "st2 --version says '$cli', but ${host.configKey}.version is ${host.version}" ;; esac`,
    ];
}

/**
 * Lines that run every listing `st2 key list -j` needs in this era into `$work/list-N.json` and join
 * them into the envelope the converter reads, in `$1`-free form: the result is `$work/export.json`.
 */
function exportLines(host: ScriptHost, decrypt: boolean): string[] {
    const listings = keyExportListings(host.version, decrypt);
    return [
        ...listings.flatMap((args, i) => [
            `if ! st2 key list -j ${args.map(q).join(" ")} >"$work/list-${i}.json" 2>"$work/err"; then`,
            `  die "st2 key list -j ${args.join(" ")} failed: $(st2_error "$work/list-${i}.json" "$work/err"); ${authHint(host)}"`,
            `fi`,
            `case "$(first_char "$work/list-${i}.json")" in`,
            `  "[") ;;`,
            `  "") printf '[]' >"$work/list-${i}.json" ;;`,
            `  *) grep -qi 'no matching items' "$work/list-${i}.json" || die "st2 key list -j printed something that is not a JSON list"; printf '[]' >"$work/list-${i}.json" ;;`,
            `esac`,
        ]),
        `{`,
        `  printf '{"st2upgradeExport":1,"version":"%s","listings":[' ${q(host.version)}`,
        ...listings.map((_, i) => `  ${i > 0 ? `printf ','; ` : ""}cat "$work/list-${i}.json"`),
        `  printf ']}\\n'`,
        `} >"$work/export.json"`,
    ];
}

function id(host: ScriptHost, step: string, title: string): ScriptIdentity {
    return { host: host.name, step, title: `${title} (content roll-over, host ${host.name}, StackStorm ${host.version})` };
}

export interface PreflightOptions {
    role: "old" | "new";
    /** Packs will be installed from git: the host needs git. */
    needsGit: boolean;
    timeoutSeconds: number;
}

/**
 * Checks a host before the roll-over touches anything: the configured version, and that root's st2
 * CLI can read the datastore (on the old host: decrypted, which needs the right to decrypt and an
 * intact crypto key). Reads st2 credentials from stdin. Changes nothing.
 */
export function preflightScript(host: ScriptHost, o: PreflightOptions): StepScript {
    const lines = [
        ...WORKDIR,
        `st2_login`,
        ...versionCheck(host),
        ...exportLines(host, false),
        `keys=$(grep -c '"name"' "$work/export.json" || true)`,
        // The roll-over exports secrets decrypted: prove now that root may, and that the crypto key
        // still decrypts them. The values are never written: only an ERROR line (st2 prints its
        // errors on stdout) is kept, by an awk that reads to the end (no SIGPIPE for st2).
        ...(o.role === "old"
            ? keyExportListings(host.version, true).map(
                  (args) =>
                      `st2 key list -j ${args.map(q).join(" ")} 2>"$work/err" | awk '/^ERROR/ && !n { print; n = 1 }' >"$work/probe" || die "st2 key list -j ${args.join(" ")} failed: $(st2_error "$work/probe" "$work/err"); the roll-over needs the secrets decrypted"`,
              )
            : []),
        ...(o.needsGit ? [`command -v git >/dev/null || die "git is needed to install packs from their repositories: install it on this host"`] : []),
        `log "st2 ${host.version}; the CLI lists $keys key(s)${o.role === "old" ? " and may decrypt the secrets" : ""}"`,
        `printf 'PREFLIGHT {"role":"%s","st2":"%s","keys":%s}\\n' ${o.role} ${q(host.version)} "$keys"`,
    ];
    return stepScript(id(host, `preflight-${o.role}`, `check the ${o.role} host before the roll-over`), [st2Login, st2Error, firstChar], lines, o.timeoutSeconds, { readsStdin: true });
}

/**
 * Prints the old host's datastore on stdout as the converter's envelope. With `decrypt`, secrets are
 * in plain text: this output only ever goes into the converter's pipe. Messages go to stderr.
 */
export function exportScript(host: ScriptHost, decrypt: boolean, timeoutSeconds: number): StepScript {
    const lines = [...WORKDIR, `st2_login`, ...exportLines(host, decrypt), `cat "$work/export.json"`];
    return stepScript(id(host, decrypt ? "export-decrypted" : "export", `print the datastore${decrypt ? " with secrets decrypted" : ""}`), [st2Login, st2Error, firstChar], lines, timeoutSeconds, { readsStdin: true });
}

/**
 * Loads a `st2 key load` file read from stdin (after the two credential lines) into the new host's
 * datastore; secrets arrive decrypted and marked `secret: true`, so this host encrypts them with its
 * own crypto key. `st2 key load` overwrites keys of the same scope, user and name: safe to re-run.
 */
export function loadScript(host: ScriptHost, timeoutSeconds: number): StepScript {
    const lines = [
        ...WORKDIR,
        `st2_login`,
        `cat >"$work/keys.json"`,
        `if [ "$(first_char "$work/keys.json")" != "[" ]; then die "the load file is not a JSON list: the converter failed?"; fi`,
        `if [ "$(tr -d ' \\n' <"$work/keys.json")" = "[]" ]; then log "the old host has no key to load"; exit 0; fi`,
        `# st2 key load prints what it stored: never shown; on failure its stdout holds the error.`,
        `if ! st2 key load "$work/keys.json" >"$work/out" 2>"$work/err"; then`,
        `  die "st2 key load failed: $(st2_error "$work/out" "$work/err"); ${authHint(host)}"`,
        `fi`,
        `log "st2 key load done"`,
    ];
    return stepScript(id(host, "load", "load the datastore"), [st2Login, st2Error, firstChar], lines, timeoutSeconds, { readsStdin: true });
}


function packCheckLines(host: ScriptHost, packs: readonly Pack[], marker: string): string[] {
    const field = packEra(host.version).listField;
    return [
        `st2 pack list -j >"$work/packs.json" 2>"$work/err" || die "st2 pack list failed: $(st2_error "$work/err")"`,
        `missing=()`,
        `for p in ${packs.map((p) => q(p.name)).join(" ")}; do`,
        `  grep -q "\\"${field}\\": \\"$p\\"" "$work/packs.json" || missing+=("$p")`,
        `done`,
        `[ "\${#missing[@]}" -eq 0 ] || die "not installed on this host: \${missing[*]} (st2 pack list)"`,
        `printf '%s %s\\n' ${q(marker)} ${q(JSON.stringify(packs.map((p) => p.name)))}`,
    ];
}

/**
 * Installs the packs from git on the new host, the way its version does it (`st2 run packs.install
 * packs=... repo_url=...` in 2.x, `st2 pack install <url>` from 3.0), then checks `st2 pack list`.
 * Installing a pack again replaces it with the repository's version: safe to re-run.
 */
export function packsScript(host: ScriptHost, packs: readonly Pack[], timeoutSeconds: number): StepScript {
    const era = packEra(host.version);
    const problems = packProblems(packs, host.version);
    if (problems.length) throw new Error(`pack ${packs[problems[0].index].name}: repoUrl ${problems[0].problem}`);
    const installs = packsByRepo(packs).flatMap(({ repoUrl, names }) => {
        const what = `${names.join(",")} from ${repoUrl}`;
        const cmd =
            era.install === "packsInstallAction"
                ? `st2 run packs.install ${q(`packs=${names.join(",")}`)} ${q(`repo_url=${repoUrl}`)}`
                : `st2 pack install ${q(repoUrl)}`;
        return [
            `log ${q(`installing ${what}`)}`,
            `if ! ${cmd} >"$work/out" 2>&1; then die ${q(`installing ${what} failed:`)}" $(tail -n 5 "$work/out" | tr '\\n' ' ' | cut -c 1-500)"; fi`,
            ...(era.install === "packsInstallAction"
                ? [`grep -q '^status: succeeded' "$work/out" || die ${q(`packs.install of ${what} did not succeed:`)}" $(grep -m 1 '^status:' "$work/out" || tail -n 1 "$work/out")"`]
                : []),
        ];
    });
    const lines = [...WORKDIR, `st2_login`, ...installs, ...packCheckLines(host, packs, "PACKS_INSTALLED")];
    return stepScript(id(host, "packs", "install packs from git"), [st2Login, st2Error], lines, timeoutSeconds, { readsStdin: true });
}

/** Checks that every pack is installed (verification); prints `PACKS_PRESENT [...]`. */
export function packCheckScript(host: ScriptHost, packs: readonly Pack[], timeoutSeconds: number): StepScript {
    return stepScript(id(host, "packs-check", "check installed packs"), [st2Login, st2Error], [...WORKDIR, `st2_login`, ...packCheckLines(host, packs, "PACKS_PRESENT")], timeoutSeconds, { readsStdin: true });
}

/**
 * Streams a tar of `<name>/` on stdout: a snapshot of the audit logs (rotated ones too), the datastore
 * as `st2 key list -j` prints it (secrets stay encrypted with this host's key) and SHA256SUMS of the
 * snapshot, taken on the host so that the copy can be proven identical. Messages go to stderr.
 */
export function archiveScript(host: ScriptHost, timeoutSeconds: number, auditLogDir = "/var/log/st2"): StepScript {
    const lines = [
        ...WORKDIR,
        `st2_login`,
        `snap="$work"/${q(host.name)}`,
        `mkdir "$snap"`,
        `shopt -s nullglob`,
        `logs=(${q(auditLogDir)}/*.audit.log*)`,
        `if [ "\${#logs[@]}" -eq 0 ]; then printf '%s\\n' ${q(`[st2-upgrade ${host.name}/archive] no audit log under ${auditLogDir}`)} >&2; fi`,
        `for f in "\${logs[@]}"; do cp -p -- "$f" "$snap/"; done`,
        ...exportLines(host, false),
        `cp "$work/export.json" "$snap/datastore-export.json"`,
        `(cd "$snap" && files=(*) && sha256sum -- "\${files[@]}" >SHA256SUMS)`,
        `tar -C "$work" -cf - ${q(host.name)}`,
    ];
    return stepScript(id(host, "archive", "snapshot audit logs and datastore"), [st2Login, st2Error, firstChar], lines, timeoutSeconds, { readsStdin: true });
}
