/**
 * The roll-over's scripts for the operator's machine, run by `local.Command`: they connect both hosts
 * with the system's ssh client so that data (the datastore, audit logs) flows from the old host to
 * the new one without passing through Pulumi: only counts and hashes reach its state.
 *
 * Secrets never appear in script text: SSH keys and st2 passwords come from the environment of the
 * local command (secret inputs) and reach a host script on its stdin.
 */
import type { SshSettings } from "../config";
import { knownHostsLine, sshHostKeyOptions } from "../hostkeys";
import { q, type StepScript } from "../scripts/shell";
import { archiveScript, exportScript, loadScript, packCheckScript, WORKDIR, type ScriptHost } from "./host-scripts";
import type { Pack } from "./packs";

/** Where the old host's audit logs (and a datastore backup, secrets still encrypted) are kept. */
export type AuditDestination = { kind: "local"; dir: string } | { kind: "s3"; bucket: string; prefix: string };

/** How the operator's machine reaches a host. */
export interface SshEndpoint {
    address: string;
    port: number;
    user: string;
    /** The host's pinned key, `type base64` (public: it may appear in the script); undefined: unchecked. */
    hostKey?: string;
    /** Environment variable holding the private key (a secret input of the command). */
    keyVar: string;
    /** Environment variables holding the st2 user and password for the host's CLI, when given. */
    st2UserVar: string;
    st2PasswordVar: string;
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

/**
 * `on_old`/`on_new` functions: ssh to the host with its key, no prompt. A pinned host key is written
 * to the function's own known_hosts file and is the only key accepted (StrictHostKeyChecking=yes, its
 * type the only host key algorithm): the pipe carries decrypted datastore values, and ssh refuses a
 * host presenting another key before sending anything. Unpinned: trusted on first use within the run.
 */
function sshFunction(fn: string, file: string, ep: SshEndpoint, o: SshSettings): string {
    const known = `$work/${fn}.known_hosts`;
    const hostKeyOptions = ep.hostKey
        ? sshHostKeyOptions({ type: ep.hostKey.split(" ")[0] }, `"${known}"`)
        : ["StrictHostKeyChecking=accept-new", `UserKnownHostsFile="$work/known_hosts"`, "LogLevel=ERROR"];
    return [
        ...(ep.hostKey ? [`printf '%s\\n' ${q(knownHostsLine(ep.address, ep.port, { text: ep.hostKey }))} >"${known}"`] : []),
        `${fn}() {`,
        `  ssh -i "$work/${file}" -p ${ep.port} -o BatchMode=yes -o IdentitiesOnly=yes \\`,
        `    ${hostKeyOptions.map((x) => `-o ${x}`).join(" ")} \\`,
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
    ssh: SshSettings;
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
    ssh: SshSettings;
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
