/**
 * The scripts of a content roll-over, as pure functions of its settings.
 *
 * Two kinds: scripts run on a host, made by `stepScript` (strict bash, sudo -n, timeout) like every
 * other host script; and scripts run on the operator's machine by `local.Command`, which connect
 * both hosts with the system's ssh client so that data (the datastore, audit logs) flows from the
 * old host to the new one without passing through Pulumi: only counts and hashes reach its state.
 *
 * Secrets never appear in script text. SSH keys and st2 passwords come from the environment of the
 * local command (secret inputs); a host script that needs st2 credentials reads them from its stdin
 * (two lines, user then password) and writes a CLI config only root can read, removed on exit.
 */
import { keyExportListings } from "../catalog/datastore";
import { packEra } from "../catalog/rollover";
import { q, stepScript, type ScriptIdentity, type StepScript } from "../scripts/shell";

/** One end of the roll-over, as the scripts see it. */
export interface ScriptHost {
    /** Names the host in messages and the audit-log folder. */
    name: string;
    version: string;
    /** The config key of this host, named by errors: `rollover.oldHost`. */
    configKey: string;
}

export interface Pack {
    name: string;
    repoUrl: string;
}

/** Where the old host's audit logs (and a datastore backup, secrets still encrypted) are kept. */
export type AuditDestination = { kind: "local"; dir: string } | { kind: "s3"; bucket: string; prefix: string };


/** A private folder removed on exit: the only place decrypted values or credentials touch disk. */
const WORKDIR = [`umask 077`, `work=$(mktemp -d "\${TMPDIR:-/tmp}/st2-upgrade-rollover.XXXXXX")`, `trap 'rm -rf "$work"' EXIT`];

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
const st2Error = `st2_error() { { grep -m 1 '^ERROR' "$1" || tail -n 1 "$1"; } | cut -c 1-300; }`;

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
            `  die "st2 key list -j ${args.join(" ")} failed: $(st2_error "$work/err"); ${authHint(host)}"`,
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
        // still decrypts them. The output is thrown away, never written.
        ...(o.role === "old"
            ? keyExportListings(host.version, true).map(
                  (args) =>
                      `st2 key list -j ${args.map(q).join(" ")} >/dev/null 2>"$work/err" || die "st2 key list -j ${args.join(" ")} failed: $(st2_error "$work/err"); the roll-over needs the secrets decrypted"`,
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
        `# st2 key load prints what it stored: never shown.`,
        `if ! st2 key load "$work/keys.json" >/dev/null 2>"$work/err"; then`,
        `  die "st2 key load failed: $(st2_error "$work/err"); ${authHint(host)}"`,
        `fi`,
        `log "st2 key load done"`,
    ];
    return stepScript(id(host, "load", "load the datastore"), [st2Login, st2Error, firstChar], lines, timeoutSeconds, { readsStdin: true });
}

/** Groups packs by repository, keeping the configured order (a repository may hold several packs). */
export function packsByRepo(packs: readonly Pack[]): { repoUrl: string; names: string[] }[] {
    const groups: { repoUrl: string; names: string[] }[] = [];
    for (const p of packs) {
        const g = groups.find((x) => x.repoUrl === p.repoUrl);
        if (g) g.names.push(p.name);
        else groups.push({ repoUrl: p.repoUrl, names: [p.name] });
    }
    return groups;
}

/**
 * Why these packs cannot be installed on this version, one problem per pack: `st2 pack install <url>`
 * (3.0 and later) installs the one pack a repository holds, so two packs cannot share a repository.
 */
export function packProblems(packs: readonly Pack[], version: string): { index: number; problem: string }[] {
    if (packEra(version).install !== "packInstallCommand") return [];
    return packs.flatMap((p, index) => {
        const first = packs.findIndex((o) => o.repoUrl === p.repoUrl);
        return first < index
            ? [{ index, problem: `is also the repository of ${packs[first].name}: StackStorm ${version} installs one pack per repository (st2 pack install <url>)` }]
            : [];
    });
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

// ---------------------------------------------------------------------------------------------
// Scripts for the operator's machine.

/** How the operator's machine reaches a host. */
export interface SshEndpoint {
    address: string;
    port: number;
    user: string;
    /** Environment variable holding the private key (a secret input of the command). */
    keyVar: string;
    /** Environment variables holding the st2 user and password for the host's CLI, when given. */
    st2UserVar: string;
    st2PasswordVar: string;
}

export interface SshOptions {
    dialAttempts: number;
    dialTimeoutSeconds: number;
}

/** The command that runs `convert-cli` on the operator's machine, e.g. `["node", "dist/components/rollover/convert-cli.js"]`. */
export type Converter = readonly string[];

const run = (c: Converter) => c.map(q).join(" ");

const LOCAL_END = "ST2U_REMOTE_SCRIPT";

function localPrelude(title: string): string[] {
    return [
        `#!/bin/bash`,
        `# st2-upgrade: ${title} (runs on the machine running Pulumi)`,
        `set -euo pipefail`,
        `log() { printf '[st2-upgrade rollover] %s\\n' "$*"; }`,
        `die() { printf '[st2-upgrade rollover] ERROR: %s\\n' "$*" >&2; exit 1; }`,
        ...WORKDIR,
        `command -v ssh >/dev/null || die "the ssh client is needed on the machine running Pulumi"`,
    ];
}

/** Writes the key held in an environment variable to a 0600 file of the private folder. */
function keyFile(file: string, keyVar: string): string[] {
    return [
        `printf '%s' "\${${keyVar}:?the SSH key is missing from the environment}" >"$work/${file}"`,
        `if [ -n "$(tail -c 1 "$work/${file}")" ]; then printf '\\n' >>"$work/${file}"; fi`,
        `unset ${keyVar}`,
    ];
}

/** `on_old`/`on_new` functions: ssh to the host with its key, no prompt, host key trusted on first use. */
function sshFunction(fn: string, file: string, ep: SshEndpoint, o: SshOptions): string {
    return [
        `${fn}() {`,
        `  ssh -i "$work/${file}" -p ${ep.port} -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR \\`,
        `    -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="$work/known_hosts" \\`,
        `    -o ConnectTimeout=${o.dialTimeoutSeconds} -o ConnectionAttempts=${o.dialAttempts} \\`,
        `    ${q(`${ep.user}@${ep.address}`)} "$@"`,
        `}`,
    ].join("\n");
}

/** Prints the two credential lines a host script's st2_login reads. */
function credentials(fn: string, ep: SshEndpoint): string {
    return `${fn}() { printf '%s\\n%s\\n' "\${${ep.st2UserVar}:-}" "\${${ep.st2PasswordVar}:-}"; }`;
}

/** Assigns a host script's command text to a variable, verbatim. */
function remoteScript(variable: string, script: StepScript): string[] {
    if (script.command.split("\n").includes(LOCAL_END)) throw new Error(`a host script contains the line ${LOCAL_END}`);
    return [`IFS= read -r -d '' ${variable} <<'${LOCAL_END}' || true`, script.command, LOCAL_END];
}

export interface PipeContext {
    oldHost: ScriptHost;
    newHost: ScriptHost;
    old: SshEndpoint;
    fresh: SshEndpoint;
    ssh: SshOptions;
    converter: Converter;
    timeoutSeconds: number;
}

function bothHosts(c: PipeContext): string[] {
    return [
        ...keyFile("old.key", c.old.keyVar),
        ...keyFile("new.key", c.fresh.keyVar),
        sshFunction("on_old", "old.key", c.old, c.ssh),
        sshFunction("on_new", "new.key", c.fresh, c.ssh),
        credentials("old_credentials", c.old),
        credentials("new_credentials", c.fresh),
    ];
}

/**
 * The datastore roll-over: export with secrets decrypted on the old host, convert on this machine,
 * load on the new host, in one pipe. Values exist only in the pipe and, briefly, in a 0600 file in a
 * 0700 folder on the new host that `st2 key load` reads and the script removes. Prints counts only.
 */
export function datastorePipeScript(c: PipeContext): string {
    return [
        ...localPrelude(`datastore roll-over ${c.oldHost.name} (${c.oldHost.version}) -> ${c.newHost.name} (${c.newHost.version})`),
        ...bothHosts(c),
        ...remoteScript("export_script", exportScript(c.oldHost, true, c.timeoutSeconds)),
        ...remoteScript("load_script", loadScript(c.newHost, c.timeoutSeconds)),
        `old_credentials | on_old "$export_script" \\`,
        `  | ${run(c.converter)} convert --from ${q(c.oldHost.version)} --to ${q(c.newHost.version)} \\`,
        `  | { new_credentials; cat; } \\`,
        `  | on_new "$load_script"`,
        `log "datastore of ${c.oldHost.name} loaded into ${c.newHost.name}"`,
    ].join("\n");
}

function destinationUri(d: AuditDestination, host: ScriptHost): string {
    return d.kind === "local" ? `${d.dir.replace(/\/+$/, "")}/${host.name}` : `s3://${d.bucket}/${d.prefix ? `${d.prefix.replace(/^\/+|\/+$/g, "")}/` : ""}${host.name}`;
}

export interface ArchiveContext {
    oldHost: ScriptHost;
    old: SshEndpoint;
    ssh: SshOptions;
    destination: AuditDestination;
    timeoutSeconds: number;
    auditLogDir?: string;
}

/**
 * Copies the old host's audit-log snapshot to the destination after checking it against the sums
 * taken on the host; prints `AUDIT_LOG <sha256> <bytes> <name>` per file and `AUDIT_DESTINATION`.
 * Re-running replaces the copy with a newer snapshot (the S3 bucket keeps earlier versions).
 */
export function archivePipeScript(c: ArchiveContext): string {
    const dest = destinationUri(c.destination, c.oldHost);
    return [
        ...localPrelude(`copy the audit logs of ${c.oldHost.name} to ${dest}`),
        ...(c.destination.kind === "s3" ? [`command -v aws >/dev/null || die "the aws CLI is needed on the machine running Pulumi to upload to ${dest}"`] : []),
        ...keyFile("old.key", c.old.keyVar),
        sshFunction("on_old", "old.key", c.old, c.ssh),
        credentials("old_credentials", c.old),
        ...remoteScript("archive_script", archiveScript(c.oldHost, c.timeoutSeconds, c.auditLogDir)),
        `mkdir "$work/in"`,
        `old_credentials | on_old "$archive_script" | tar -C "$work/in" -xf -`,
        `snap="$work/in"/${q(c.oldHost.name)}`,
        `[ -f "$snap/SHA256SUMS" ] || die "the old host sent no SHA256SUMS"`,
        `(cd "$snap" && sha256sum --quiet -c SHA256SUMS) || die "the copy does not match the sha256 sums taken on ${c.oldHost.name}"`,
        ...(c.destination.kind === "local"
            ? [`dest=${q(dest)}`, `install -d -m 700 "$dest"`, `cp -p -- "$snap"/* "$dest"/`, `chmod 600 "$dest"/*`, `dest=$(cd "$dest" && pwd)`]
            : [`dest=${q(dest)}`, `aws s3 cp --recursive --only-show-errors "$snap/" "$dest/"`]),
        `while read -r sum name; do`,
        `  printf 'AUDIT_LOG %s %s %s\\n' "$sum" "$(wc -c <"$snap/$name" | tr -d ' ')" "$name"`,
        `done <"$snap/SHA256SUMS"`,
        `printf 'AUDIT_DESTINATION %s\\n' "$dest"`,
    ].join("\n");
}

/** One copied file, as the archive step recorded it. */
export interface CopiedFile {
    name: string;
    sha256: string;
    bytes: number;
}

export interface VerifyContext extends PipeContext {
    packs: readonly Pack[];
    destination: AuditDestination;
    /** What the archive step copied: the destination must still hold exactly these; undefined: it recorded nothing. */
    copied: readonly CopiedFile[] | undefined;
}

/**
 * Verifies the roll-over without printing a value: the datastores' summaries (names, scopes, users,
 * secret flags, hashes of non-secret values) compared on this machine, the packs listed by the new
 * host, and every copied file's sha256 at the destination against the one recorded when copied.
 */
export function verifyScript(c: VerifyContext): string {
    const dest = destinationUri(c.destination, c.oldHost);
    const hash = c.destination.kind === "local" ? `sha256sum <"$dest/$1"` : `aws s3 cp --only-show-errors "$dest/$1" - | sha256sum`;
    return [
        ...localPrelude(`verify the roll-over ${c.oldHost.name} -> ${c.newHost.name}`),
        ...(c.destination.kind === "s3" ? [`command -v aws >/dev/null || die "the aws CLI is needed on the machine running Pulumi to read ${dest}"`] : []),
        ...bothHosts(c),
        ...remoteScript("old_export", exportScript(c.oldHost, false, c.timeoutSeconds)),
        ...remoteScript("new_export", exportScript(c.newHost, false, c.timeoutSeconds)),
        `log "comparing the datastores of ${c.oldHost.name} and ${c.newHost.name}"`,
        `old_credentials | on_old "$old_export" | ${run(c.converter)} summary --from ${q(c.oldHost.version)} --to ${q(c.newHost.version)} >"$work/old.summary"`,
        `new_credentials | on_new "$new_export" | ${run(c.converter)} summary --from ${q(c.newHost.version)} --to ${q(c.newHost.version)} >"$work/new.summary"`,
        `${run(c.converter)} compare "$work/old.summary" "$work/new.summary"`,
        ...(c.packs.length ? [...remoteScript("pack_check", packCheckScript(c.newHost, c.packs, c.timeoutSeconds)), `new_credentials | on_new "$pack_check"`] : []),
        `dest=${q(dest)}`,
        ...(c.copied
            ? [
                  `check_copy() {`,
                  `  local sum`,
                  `  sum=$(${hash} | cut -d ' ' -f 1) || die "cannot read $dest/$1"`,
                  `  [ "$sum" = "$2" ] || die "$dest/$1 has sha256 $sum, but $2 was copied"`,
                  `}`,
                  ...c.copied.map((f) => `check_copy ${q(f.name)} ${q(f.sha256)}`),
                  `printf 'AUDIT_VERIFIED %s %s\\n' ${c.copied.length} "$dest"`,
              ]
            : [`die "the audit-log step recorded no copy in $dest (no AUDIT_DESTINATION line in its output)"`]),
    ].join("\n");
}
