/**
 * Host facts: what each host really runs, read once per run (preview and up), read-only, over SSH,
 * before anything is planned. The plan and the preview come from these facts; `hosts[].currentVersion`,
 * `packages` and `packageManager` are only assertions checked against them.
 *
 * Why the system OpenSSH client, spawned from the program, and not an SSH library (`ssh2`) or
 * `command.local.run`:
 * - no new dependency: `ssh2` pulls in crypto code of its own and an optional native module built by
 *   an install script (`cpu-features`), which we may not rely on; OpenSSH is on every machine that
 *   administers Linux hosts and is maintained by the OS vendor;
 * - `command.local.run` is an invoke of the command provider: it runs during preview too, but its
 *   command line and environment travel through the engine (and debug logs), so the key would have to
 *   pass through them; here the key stays in this process and a 0600 file that is removed after;
 * - the same settings as the steps' `connection` (pulumi-command's Go SSH client): same user, port,
 *   key, no ssh_config of the operator (`-F /dev/null`: no ProxyJump or options the steps would not have),
 *   and the same host-key trust as the steps' `connection.hostKey`: a pinned key is the only one
 *   accepted (components/hostkeys.ts `sshHostKeyOptions`), and a host presenting another is refused
 *   here, before any step, naming both fingerprints; an unpinned host is not checked (as the provider
 *   without `hostKey`), so a host the steps can reach is a host the facts can read, and vice versa;
 * - but one dial of at most FACTS_DIAL_SECONDS (or `ssh.dialTimeoutSeconds` if shorter): the steps'
 *   patience (`ssh.dialAttempts` dials of `ssh.dialTimeoutSeconds`, to ride out an sshd restart
 *   during an upgrade) made a preview wait ConnectionAttempts x ConnectTimeout = 10 x 15 s on a host
 *   that does not answer; a host that cannot be read before anything starts is reported at once.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as semver from "semver";
import { knownReleases, PACKAGE_NAMES, type OsRelease, type PackageName } from "./catalog";
import { CONFIG_NAMESPACE, type HostConfig, type PlannedHost, type ResolvedHost, type Settings, type UpgradeConfig } from "./config";
import { keyRefusal, knownHostsLine, refusalMessage, sshHostKeyOptions, type PinnedKey } from "./hostkeys";

export type { PlannedHost, ResolvedHost };
import { inPlaceRefusal, parseBackupName, plan, restorePlan, upgradePath, type RestoreSource } from "./plan";
import { heldButStarted } from "./rollout";
import { runSsh, sshArgs, type SshRunResult } from "./ssh-client";
import { iniGet, mistralDbUrl, psql, versionGe } from "./scripts/library";
import { packageManager } from "./scripts/packageManagers";
import { q, readScript, type ReadScript } from "./scripts/shell";

/** Every package StackStorm has shipped, community and enterprise, whose revision the facts report. */
export const FACT_PACKAGES: readonly PackageName[] = PACKAGE_NAMES;

/** Hosts read at once: each read is one ssh process; enough to read 500 hosts in well under a minute. */
export const FACTS_CONCURRENCY = 16;
/**
 * Longest wait for one host's SSH answer (TCP connect and banner, OpenSSH's ConnectTimeout) when
 * reading facts: a reachable sshd answers in well under a second; more only delays a failing preview.
 */
export const FACTS_DIAL_SECONDS = 5;

/** The one dial a fact read makes: its timeout in seconds. */
export function factsDialSeconds(ssh: Settings["ssh"]): number {
    return Math.min(ssh.dialTimeoutSeconds, FACTS_DIAL_SECONDS);
}

/** Seconds the fact script may run on a host (`st2 --version` and `st2ctl status` start Python). */
const FACTS_SCRIPT_SECONDS = 120;
/** Longest stdout line the script may print (project rule: no output line over 4 KiB). */
const MAX_LINE = 4096;

/** What one read found on one host. */
export interface HostFacts {
    os: OsRelease;
    /** From the distribution family (os-release ID / ID_LIKE), else from the package tools present. */
    packageManager: "apt" | "yum" | null;
    /** Installed StackStorm packages, name -> VERSION-REVISION. */
    packages: Record<string, string>;
    /** Packages an interrupted dpkg run left unpacked or half configured (their version is the new one). */
    unfinished: string[];
    /** The first line of `st2 --version 2>&1` (Python 2's argparse prints it on stderr). */
    st2Version: string | null;
    /** What `st2ctl status` lists (every component of its list, installed or not) and which run. */
    st2ctl: { components: string[]; running: string[] } | null;
    mistral: {
        /** alembic_version of the Mistral database, read in a read-only transaction; null when there is none. */
        dbRevision: string | null;
        /** Whether a Mistral engine or API process runs. */
        running: boolean;
    };
    /** Free MB under the package cache and the backup folder (the nearest existing parent of each). */
    freeMb: { packageCache?: number; backup?: number };
    /** Whether the read ran as root (passwordless sudo); without it some facts may be missing. */
    root: boolean;
    /**
     * The newest complete backup under `backup.dir` (a folder named `<UTC time>-<from>-to-<to>`, its
     * `.partial` work folders never count), and whether it has the manifest a restore needs (backups
     * of st2-upgrade 0.1.0 have none). Null when there is none or the read could not look (no root).
     * Absent in facts recorded before restores existed.
     */
    backup?: { name: string; manifest: boolean } | null;
}

/**
 * The facts as outputs report them: without free space, which changes between any two reads (logs
 * grow). An output known at preview must be the same at `pulumi up --plan`, or the engine refuses the
 * run's outputs after its steps ran; free space is preflight's to check (its `detected` output).
 */
export type ReportedFacts = Omit<HostFacts, "freeMb">;

export function reportedFacts(facts: HostFacts): ReportedFacts {
    const { freeMb: _, ...stable } = facts;
    return stable;
}

/** Who to read and how to reach it: the same user, port and key as the steps' `connection`. */
export interface FactTarget {
    name: string;
    address: string;
    port: number;
    user: string;
    /** Where in the config this host is, for messages (`hosts[2]`). */
    key: string;
    privateKey: string;
    /** The key the host must present; undefined: not checked. */
    hostKey?: PinnedKey;
}

/**
 * The read-only fact script for one host; generated in the one shell place, shellcheck-clean.
 *
 * It runs on every host at every preview and `up`, so it is built to be cheap: JSON is assembled with
 * bash builtins (no subshell or `tr` per string), one dpkg-query or rpm call reads every package, and
 * the three reads that start programs of their own (`st2 --version`, `st2ctl status`, psql) run side
 * by side from the start and are collected at the end: on a real host st2's CLI alone spends about a
 * second starting Python. Written for bash 4.2 (CentOS 7): no namerefs, empty arrays guarded for `set -u`.
 */
export function factScript(host: string, settings: Pick<Settings, "backup" | "mistral">): ReadScript {
    const apt = packageManager("apt");
    const yum = packageManager("yum");
    const pkgs = FACT_PACKAGES.join(" ");
    const backupDir = q(settings.backup.dir);
    const lines = [
        // Started first, read last (their answers begin with a line "found" when the program exists);
        // stdin from /dev/null: this script itself arrives on stdin.
        `exec {st2_fd}< <(if command -v st2 >/dev/null; then echo found; (timeout 60 st2 --version 2>&1 || true) | head -n 1; fi </dev/null)`,
        `exec {ctl_fd}< <(if command -v st2ctl >/dev/null; then echo found; timeout 60 st2ctl status 2>&1 || true; fi </dev/null)`,
        `exec {rev_fd}< <(mistral_revision ${q(settings.mistral.configFile)} </dev/null)`,
        `jp="" jv="" jn="" jl="" jr="" jid="" jvid="" st2v="" revision="" # set by json_* (printf -v)`,
        `id="" version_id="" id_like=""`,
        `if [ -r /etc/os-release ]; then`,
        `  # shellcheck source=/dev/null`,
        `  mapfile -t osr < <(. /etc/os-release && printf '%s\\n' "\${ID:-}" "\${VERSION_ID:-}" "\${ID_LIKE:-}")`,
        `  id=\${osr[0]:-} version_id=\${osr[1]:-} id_like=\${osr[2]:-}`,
        `fi`,
        `case " $id $id_like " in`,
        `  *" rhel "*|*" centos "*|*" fedora "*|*" rocky "*|*" almalinux "*) pm=yum ;;`,
        `  *" debian "*|*" ubuntu "*) pm=apt ;;`,
        `  *) if command -v dpkg-query >/dev/null; then pm=apt; elif command -v rpm >/dev/null; then pm=yum; else pm=""; fi ;;`,
        `esac`,
        `case "$pm" in`,
        `  apt) cache=${q(apt.cacheDir)} ;;`,
        `  yum) cache=${q(yum.cacheDir)} ;;`,
        `  *) cache=/var/cache ;;`,
        `esac`,
        `declare -A version=() state=()`,
        `if [ "$pm" = apt ]; then`,
        // dpkg's second status letter: a package an interrupted upgrade left unpacked (U), half
        // installed (H) or half configured (F) still counts, with the version dpkg records for it, so
        // that a resumed run finds the host on its recorded path; removed (n) or config files only (c)
        // do not. (The steps' pm_installed counts only installed packages: they act on them.)
        `  while read -r p st v; do`,
        `    case "$st" in ?[iHUFWt]*) if [ -n "$v" ]; then version[$p]=$v state[$p]=\${st:1:1}; fi ;; esac`,
        `  done < <(dpkg-query -W -f='\${Package} \${db:Status-Abbrev} \${Version}\\n' ${pkgs} 2>/dev/null || true)`,
        `elif [ "$pm" = yum ]; then`,
        // rpm lists every installed instance: two are what an interrupted transaction leaves (the
        // newest counts, and the package is reported unfinished). "package X is not installed" is skipped.
        `  while read -r p v rest; do`,
        `    if [ -z "$v" ] || [ -n "$rest" ]; then continue; fi`,
        `    if [ -z "\${version[$p]:-}" ]; then`,
        `      version[$p]=$v state[$p]=i`,
        `    else`,
        `      if version_ge "$v" "\${version[$p]}"; then version[$p]=$v; fi`,
        `      state[$p]=U`,
        `    fi`,
        `  done < <(rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' ${pkgs} 2>/dev/null || true)`,
        `fi`,
        `packages="" unfinished=""`,
        `for p in ${pkgs}; do`,
        `  if [ -z "\${version[$p]:-}" ]; then continue; fi`,
        `  json_str jp "$p"`,
        `  json_str jv "\${version[$p]}"`,
        `  packages+="\${packages:+,}$jp:$jv"`,
        `  case "\${state[$p]}" in H|U|F) unfinished+="\${unfinished:+,}$jp" ;; esac`,
        `done`,
        `mistral_running=false`,
        `if pgrep -f 'bin/mistral-server( |$)|mistral\\.api\\.wsgi' >/dev/null; then mistral_running=true; fi`,
        // Free space under the package cache and the backup folder: the nearest existing parent of each.
        `places=()`,
        `for dir in "$cache" ${backupDir}; do`,
        `  while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done`,
        `  places+=("$dir")`,
        `done`,
        `mb_cache="" mb_backup=""`,
        `{ read -r _ || true; read -r _ _ _ mb_cache _ || true; read -r _ _ _ mb_backup _ || true; } < <(df -Pm "\${places[@]}" 2>/dev/null || true)`,
        `root=false`,
        `if [ "$EUID" -eq 0 ]; then root=true; fi`,
        `backup=null`,
        `if [ -d ${backupDir} ] && [ -r ${backupDir} ]; then`,
        `  newest=$(find ${backupDir} -mindepth 1 -maxdepth 1 -type d -name '20*-to-*' ! -name '*.partial' -printf '%f\\n' | sort | tail -n 1)`,
        `  if [ -n "$newest" ]; then`,
        `    manifest=false`,
        `    if [ -f ${backupDir}/"$newest"/manifest.json ]; then manifest=true; fi`,
        `    json_str jn "$newest"`,
        `    backup="{\\"name\\":$jn,\\"manifest\\":$manifest}"`,
        `  fi`,
        `fi`,
        `json_answer st2v "$st2_fd"`,
        `ctl=null`,
        `if read -r -u "$ctl_fd" _; then`,
        `  listed=() running=()`,
        `  pid_line=' PID: [0-9]+$' down_line=' is not running\\.$'`,
        `  while IFS= read -r -u "$ctl_fd" line; do`,
        `    first=\${line#"\${line%%[![:space:]]*}"} first=\${first%%[[:space:]]*}`,
        `    if [[ $line =~ $pid_line ]]; then listed+=("$first") running+=("$first"); elif [[ $line =~ $down_line ]]; then listed+=("$first"); fi`,
        `  done`,
        `  json_words jl \${listed[@]+"\${listed[@]}"}`,
        `  json_words jr \${running[@]+"\${running[@]}"}`,
        `  ctl="{\\"components\\":[$jl],\\"running\\":[$jr]}"`,
        `fi`,
        `json_answer revision "$rev_fd"`,
        `json_str jid "$id"`,
        `json_str jvid "$version_id"`,
        `jpm=null`,
        `if [ -n "$pm" ]; then json_str jpm "$pm"; fi`,
        `printf '{"os":{"id":%s,"versionId":%s},"packageManager":%s,"packages":{%s},"unfinished":[%s],"st2Version":%s,"st2ctl":%s,"mistral":{"dbRevision":%s,"running":%s},"freeMb":{"packageCache":%s,"backup":%s},"root":%s,"backup":%s}\\n' \\`,
        `  "$jid" "$jvid" "$jpm" "$packages" "$unfinished" "$st2v" "$ctl" "$revision" "$mistral_running" "\${mb_cache:-0}" "\${mb_backup:-0}" "$root" "$backup"`,
    ];
    const functions = [
        iniGet,
        mistralDbUrl,
        psql,
        versionGe,
        // Strings are cut at 64 characters (list items at 32, lists at 20 items) and stripped of control
        // characters: whatever the host prints, the line stays under 3 KiB (4 KiB is the limit).
        // json_str NAME TEXT [MAX]: NAME becomes TEXT as a JSON string.
        `json_str() {
  local s=\${2:0:\${3:-64}}
  s=\${s//[[:cntrl:]]/}
  s=\${s//\\\\/\\\\\\\\}
  s=\${s//\\"/\\\\\\"}
  printf -v "$1" '"%s"' "$s"
}`,
        // json_words NAME WORD...: NAME becomes the first 20 distinct words as JSON strings, comma-separated.
        `json_words() {
  local name=$1 word item list="" n=0
  local -A seen=()
  shift
  for word in "$@"; do
    if [ -n "\${seen[$word]:-}" ]; then continue; fi
    seen[$word]=1
    n=$((n + 1))
    if [ "$n" -gt 20 ]; then break; fi
    json_str item "$word" 32
    list+="\${list:+,}$item"
  done
  printf -v "$name" '%s' "$list"
}`,
        // json_answer NAME FD: NAME becomes null when the answer on FD has no line "found", else
        // the line after it as a JSON string.
        `json_answer() {
  local line=""
  printf -v "$1" null
  if read -r -u "$2" _; then
    IFS= read -r -u "$2" line || true
    json_str "$1" "$line"
  fi
}`,
        // The alembic revision of the Mistral database, after a line "found" when it could be read.
        `mistral_revision() {
  local url rev
  if [ -r "$1" ] && command -v psql >/dev/null; then
    if url=$( (mistral_db_url "$1") 2>/dev/null); then
      # A read-only transaction: the fact read cannot change the database even by mistake.
      if rev=$(PGOPTIONS='-c default_transaction_read_only=on' PGCONNECT_TIMEOUT=10 psql_q "$url" 'SELECT version_num FROM alembic_version' 2>/dev/null); then
        printf 'found\\n%s\\n' "\${rev%%$'\\n'*}"
      fi
    fi
  fi
}`,
    ];
    return readScript({ host, step: "facts", title: `read-only facts of host ${host}` }, functions, lines, FACTS_SCRIPT_SECONDS);
}

/** Parses the script's output: one JSON line. Throws with what was wrong. */
export function parseFacts(stdout: string): HostFacts {
    const lines = stdout.split("\n").filter((l) => l.startsWith("{"));
    if (lines.length !== 1) throw new Error(`expected one line of JSON from the fact script, got ${lines.length}`);
    if (lines[0].length > MAX_LINE) throw new Error(`the fact script printed a line of ${lines[0].length} bytes (limit ${MAX_LINE})`);
    const f = JSON.parse(lines[0]) as HostFacts;
    if (typeof f?.os?.id !== "string" || typeof f.packages !== "object" || typeof f.root !== "boolean") {
        throw new Error(`the fact script printed JSON without os, packages or root: ${lines[0].slice(0, 200)}`);
    }
    return f;
}

/** The StackStorm release the host runs: its st2 package's version, without the revision. */
export function factVersion(facts: HostFacts): string | undefined {
    const st2 = facts.packages.st2;
    return st2 ? st2.replace(/-[^-]*$/, "") : undefined;
}

function sshRun(target: FactTarget, keyFile: string, knownHostsFile: string, ssh: Settings["ssh"], command: string, input: string): Promise<SshRunResult> {
    const args = [
        ...sshArgs(
            target,
            keyFile,
            factsDialSeconds(ssh),
            ["-o", "ConnectionAttempts=1", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"],
            sshHostKeyOptions(target.hostKey, knownHostsFile),
        ),
        command,
    ];
    // Beyond the one dial and the script's own limit, ssh is killed.
    const limitMs = (factsDialSeconds(ssh) + 1 + FACTS_SCRIPT_SECONDS + 30) * 1000;
    return runSsh(args, input, limitMs).catch((e: Error) => {
        throw new Error(`cannot run the OpenSSH client (ssh) to read host facts: ${e.message}; install openssh-client`);
    });
}

/** Why a read failed, for the operator: host, address, what failed, what to check. */
function readFailure(t: FactTarget, ssh: Settings["ssh"], r: SshRunResult): string {
    const where = `host ${t.name} (${t.user}@${t.address}:${t.port}, ${t.key})`;
    const said = r.stderr.trim().split("\n").slice(-3).join(" / ");
    const refused = r.code === 255 && t.hostKey ? keyRefusal(r.stderr) : undefined;
    if (refused && t.hostKey) return refusalMessage(where, t.hostKey, refused);
    if (r.timedOut) return `${where}: reading its facts did not finish in time; check that the host is responsive and that sudo does not hang`;
    if (r.code === 255 && /Permission denied|Too many authentication failures/.test(r.stderr)) {
        return (
            `${where}: the SSH login was refused (${said}). Check that the key (${t.key}.sshPrivateKey or sshPrivateKey/sshPrivateKeyPath) ` +
            `is authorized for ${t.user} on the host (~${t.user}/.ssh/authorized_keys)`
        );
    }
    if (r.code === 255) {
        return (
            `${where}: unreachable: ssh failed after 1 attempt(s) of ${factsDialSeconds(ssh)} s (${said || "no message"}). ` +
            `Check that ${t.address} is reachable from this machine, that sshd listens on port ${t.port}, and that the key ` +
            `(${t.key}.sshPrivateKey or sshPrivateKey) is authorized for ${t.user}. Nothing was changed: the host facts are read ` +
            `with one dial of at most ${FACTS_DIAL_SECONDS} s (ssh.dialTimeoutSeconds if shorter) before any step`
        );
    }
    return `${where}: the read-only fact script failed (exit ${r.code}): ${said || "no message"}`;
}

/** Runs `work` over `items`, at most `limit` at once, keeping their order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
    const out = new Array<R>(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < items.length) {
            const i = next++;
            out[i] = await work(items[i], i);
        }
    };
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
    return out;
}

/**
 * Reads every host once, in parallel (at most FACTS_CONCURRENCY at once). One error lists every host
 * that could not be read. The keys are written to 0600 files in a 0700 temp folder, removed after.
 */
export async function readFacts(targets: readonly FactTarget[], settings: Settings): Promise<Map<string, HostFacts>> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2-upgrade-facts-"));
    try {
        const keyFiles = new Map<string, string>();
        const keyFile = (key: string): string => {
            let file = keyFiles.get(key);
            if (!file) {
                file = path.join(dir, `key-${keyFiles.size}`);
                // OpenSSH refuses a key without its final newline on some versions, and any key others can read.
                fs.writeFileSync(file, key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600 });
                keyFiles.set(key, file);
            }
            return file;
        };
        const results = await mapBounded(targets, FACTS_CONCURRENCY, async (t, i) => {
            const script = factScript(t.name, settings);
            // The pinned key alone: a known_hosts file per host, so no other entry can vouch for it.
            const knownHosts = path.join(dir, `known_hosts-${i}`);
            if (t.hostKey) fs.writeFileSync(knownHosts, `${knownHostsLine(t.address, t.port, t.hostKey)}\n`, { mode: 0o600 });
            const r = await sshRun(t, keyFile(t.privateKey), knownHosts, settings.ssh, script.command, script.body);
            if (r.code !== 0 || r.timedOut) return { t, error: readFailure(t, settings.ssh, r) };
            try {
                return { t, facts: parseFacts(r.stdout) };
            } catch (e) {
                return { t, error: `host ${t.name} (${t.address}): ${(e as Error).message}` };
            }
        });
        const errors = results.flatMap((r) => (r.error ? [r.error] : []));
        if (errors.length) throw new FactsError(errors);
        return new Map(results.map((r) => [r.t.name, r.facts!]));
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Hosts whose facts could not be read or contradict the configuration; nothing was changed. */
export class FactsError extends Error {
    constructor(readonly problems: string[]) {
        super(`st2-upgrade: host facts (read before any step; no host was changed):\n  ${problems.join("\n  ")}`);
        this.name = "FactsError";
    }
}

/** This run's stack, as the engine's built-in stack readers name it. */
function thisStack(): string {
    return `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/** The upgrade a previous run of this stack recorded for a host (its steps' triggers). */
export interface RecordedUpgrade {
    from: string;
    to: string;
}

/**
 * What the last deployment of this stack recorded per host: the (from, to) of its steps' triggers.
 * Read through the engine's built-in `readStackResourceOutputs` invoke on this very stack (the last
 * checkpoint, which the current run has not changed yet), so failed runs count too: every step that
 * finished is in the checkpoint even when the run did not finish. No resource is registered for it.
 */
export async function recordedUpgrades(fleetName: string): Promise<Map<string, RecordedUpgrade[]>> {
    const result = (await pulumi.runtime.invoke("pulumi:pulumi:readStackResourceOutputs", { stackName: thisStack() })) as {
        outputs?: Record<string, { type?: string; outputs?: { triggers?: unknown } }>;
    };
    return upgradesFromState(result?.outputs ?? {}, fleetName);
}

/**
 * The cheap read for the usual run, one after a successful `up`: the (from, to) of each host's plan as
 * the stack outputs of the last finished run report them (`hosts[].fromVersion`, `targetVersion`), read
 * with the engine's built-in `readStackOutputs` invoke on this very stack. A few KB, where
 * `readStackResourceOutputs` returns the outputs of every step (their scripts and what they printed:
 * about 1 MB for 8 hosts, which took the program seconds to decode on every run). Outputs are written
 * only by a run that finished, so they are used only when `settledOn` says they cannot mislead.
 * Undefined when the stack has no such outputs or the backend cannot give them.
 */
export async function lastRunUpgrades(): Promise<Map<string, RecordedUpgrade[]> | undefined> {
    try {
        const result = (await pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", { name: thisStack() })) as { outputs?: { hosts?: unknown } };
        return upgradesFromOutputs(result?.outputs?.hosts);
    } catch {
        return undefined;
    }
}

/** The pure part of `lastRunUpgrades`: the `hosts` stack output to host -> [(from, to)]. */
export function upgradesFromOutputs(hosts: unknown): Map<string, RecordedUpgrade[]> | undefined {
    if (!Array.isArray(hosts)) return undefined;
    const found = new Map<string, RecordedUpgrade[]>();
    for (const h of hosts as unknown[]) {
        const { name, fromVersion, targetVersion, status } = (h ?? {}) as Record<string, unknown>;
        // A held host (rollout.throughBatch) has a plan but no step: nothing was recorded for it.
        if (status === "held") continue;
        if (typeof name === "string" && typeof fromVersion === "string" && typeof targetVersion === "string") {
            found.set(name, [{ from: fromVersion, to: targetVersion }]);
        }
    }
    return found;
}

/**
 * Whether the last finished run's outputs may stand in for the steps' triggers: every host runs the
 * target, nothing half installed, and the outputs recorded an upgrade to this target for it. A failed
 * run since then either changed what a host runs (then this is false and the steps are read) or left
 * only steps towards this same target, where the triggers give the start the outputs give, unless
 * that failed run started elsewhere, which the triggers cannot order either.
 */
export function settledOn(
    hosts: readonly HostConfig[],
    facts: ReadonlyMap<string, HostFacts>,
    lastRun: ReadonlyMap<string, readonly RecordedUpgrade[]> | undefined,
    targetVersion: string,
): boolean {
    return (
        lastRun !== undefined &&
        hosts.every((h) => {
            const f = facts.get(h.name);
            return f !== undefined && f.unfinished.length === 0 && factVersion(f) === targetVersion && (lastRun.get(h.name) ?? []).some((r) => r.to === targetVersion);
        })
    );
}

/**
 * The pure part of `recordedUpgrades`: state entries (URN -> type, outputs) to host -> every distinct
 * (from, to) its steps carry. More than one when a run towards a new target failed before the old
 * chain's steps were deleted.
 */
export function upgradesFromState(
    entries: Record<string, { type?: string; outputs?: { triggers?: unknown } }>,
    fleetName: string,
): Map<string, RecordedUpgrade[]> {
    const found = new Map<string, RecordedUpgrade[]>();
    for (const [urn, entry] of Object.entries(entries)) {
        if (entry.type !== "command:remote:Command" || !urn.includes("st2upgrade:host:StackStormHost$")) continue;
        const t = entry.outputs?.triggers;
        if (!Array.isArray(t) || t.length !== 3 || !t.every((x) => typeof x === "string")) continue;
        const [from, to, step] = t as string[];
        const name = urn.split("::").pop()!;
        const prefix = `${fleetName}-`;
        const suffix = `-${step}`;
        if (!name.startsWith(prefix) || !name.endsWith(suffix)) continue;
        const host = name.slice(prefix.length, name.length - suffix.length);
        const seen = found.get(host) ?? [];
        if (!seen.some((r) => r.from === from && r.to === to)) found.set(host, [...seen, { from, to }]);
    }
    return found;
}

/**
 * The release the plan starts from. Steps are keyed on (from, to, step): after a successful upgrade
 * the host runs `to`, and planning from what it runs would plan nothing, so every step would be
 * deleted from the state and the next preview would show deletes. So while the host is somewhere on
 * the path the last run recorded for this target (its start, a stepping stone, or the target), the
 * plan keeps that run's `from`: the same resources, the same triggers, nothing runs again, and a
 * failed run resumes at the failed step even when the host is already past a stepping stone. A new
 * target, or a host found off that path (restored from a backup, upgraded by hand), plans from what
 * the host runs.
 */
export function planFrom(running: string, target: string, recorded: readonly RecordedUpgrade[] | undefined): { from: string; pinned: boolean } {
    for (const r of recorded ?? []) {
        if (r.to !== target || r.from === running) continue;
        // A restore this stack ran (or began) back to the target: once the host runs the target again
        // (the old packages are back), its steps stay keyed on where the restore started.
        if (semver.valid(r.from) && semver.valid(r.to) && semver.gt(r.from, r.to)) {
            if (running === target) return { from: r.from, pinned: true };
            continue;
        }
        try {
            const path = [r.from, ...upgradePath(r.from, target)];
            if (path.includes(running)) return { from: r.from, pinned: true };
        } catch {
            // the recorded start is no longer plannable (catalog changed): plan from the host
        }
    }
    return { from: running, pinned: false };
}


/**
 * The backup a restore from `from` to `target` uses: the host's newest complete one, which must carry
 * a manifest (packages and checksums: backups of st2-upgrade 0.1.0 cannot be restored offline). A
 * restore this stack already finished (the host runs the target again) keeps its steps even when that
 * backup has since been rotated away: nothing of it runs again.
 */
export function restoreSource(f: HostFacts, from: string, target: string, running: string): RestoreSource | undefined {
    const newest = f.backup ? parseBackupName(f.backup.name) : undefined;
    if (newest && !f.backup!.manifest) {
        throw new Error(
            `its newest backup (${newest.backup}) was made by an older st2-upgrade, without the packages and manifest a restore needs; ` +
                `restore it by hand (docs: README, Undo), or keep targetVersion at ${from}`,
        );
    }
    if (newest) return newest;
    if (running === target) return { backup: "(restored; no backup left on the host)", takenAt: target, upgradedTo: from };
    if (f.backup === undefined || !f.root) {
        throw new Error(`its backups could not be read (the fact read needs passwordless sudo to look into backup.dir); nothing can be restored without one`);
    }
    return undefined;
}

/**
 * Completes each host from its facts, checks the configured assertions, the catalog and the OS, and
 * plans it (the one plan of the host: the fleet and its steps use it): every problem of every host
 * in one error, before any resource is registered.
 */
export function resolveHosts(
    hosts: readonly HostConfig[],
    facts: ReadonlyMap<string, HostFacts>,
    recorded: ReadonlyMap<string, readonly RecordedUpgrade[]>,
    targetVersion: string,
    skip: readonly string[],
): PlannedHost[] {
    const problems: string[] = [];
    const releases = new Set(knownReleases());
    const resolved = hosts.map((host, i): PlannedHost | undefined => {
        const f = facts.get(host.name);
        if (!f) {
            problems.push(`host ${host.name} (${host.address}): no facts were read`);
            return undefined;
        }
        const key = `${CONFIG_NAMESPACE}:hosts[${i}]`;
        const where = `host ${host.name} (${host.address})`;
        const running = factVersion(f);
        if (!running) {
            problems.push(`${where}: the st2 package is not installed (${f.packageManager ?? "no dpkg or rpm"} found no st2): is this a StackStorm host?`);
            return undefined;
        }
        if (!semver.valid(running) || !releases.has(running)) {
            problems.push(`${where}: runs st2 ${f.packages.st2}, a release the catalog does not know; add it to components/catalog/releases.ts`);
            return undefined;
        }
        if (!f.packageManager) {
            problems.push(`${where}: neither dpkg nor rpm found (os-release ${f.os.id} ${f.os.versionId})`);
            return undefined;
        }
        const { from } = planFrom(running, targetVersion, recorded.get(host.name));
        const installed = FACT_PACKAGES.filter((p) => p in f.packages);
        // Assertions: the configured value must match what the host runs, or the start of the upgrade
        // this stack recorded for it (a config written before the upgrade stays valid after it), or,
        // going back to a backup, the release that backup was taken at (the same config, unchanged).
        const goingBack = semver.gt(from, targetVersion);
        const backupRelease = goingBack && host.currentVersion === targetVersion;
        if (host.currentVersion !== undefined && host.currentVersion !== running && host.currentVersion !== from && !backupRelease) {
            problems.push(
                `${key}.currentVersion is "${host.currentVersion}" but ${where} runs ${running} (st2 package ${f.packages.st2}). ` +
                    `Remove the key to plan from what the host runs, or set it: currentVersion: "${running}"`,
            );
        }
        if (host.packageManager !== undefined && host.packageManager !== f.packageManager) {
            problems.push(
                `${key}.packageManager is "${host.packageManager}" but ${where} is ${f.os.id} ${f.os.versionId} with ${f.packageManager}. ` +
                    `Remove the key, or set it: packageManager: "${f.packageManager}"`,
            );
        }
        if (host.packages !== undefined && [...host.packages].sort().join(" ") !== [...installed].sort().join(" ")) {
            problems.push(
                `${key}.packages is [${host.packages.join(", ")}] but ${where} has [${installed.join(", ")}] installed. ` +
                    `Remove the key to plan from what is installed, or set it: packages: [${installed.map((p) => `"${p}"`).join(", ")}]`,
            );
        }
        if (goingBack) {
            // Undo: only back to the release the host's newest backup was taken at (plan.ts restorePlan).
            const resolvedHost: ResolvedHost = { ...host, currentVersion: from, packageManager: f.packageManager, packages: installed };
            try {
                return { host: resolvedHost, plan: restorePlan(from, targetVersion, restoreSource(f, from, targetVersion, running)) };
            } catch (e) {
                problems.push(`${where}: ${(e as Error).message}`);
                return undefined;
            }
        }
        // A host already at the target (upgraded by this stack or otherwise) has nothing left to refuse,
        // and its pinned plan only names the steps the state holds: the OS no longer constrains it.
        const os = running === targetVersion ? undefined : f.os;
        const refusal = os && inPlaceRefusal(host, os, from, targetVersion);
        if (refusal) {
            problems.push(refusal);
            return undefined;
        }
        const resolvedHost: ResolvedHost = { ...host, currentVersion: from, packageManager: f.packageManager, packages: installed, ...(os ? { os } : {}) };
        try {
            return { host: resolvedHost, plan: plan(from, targetVersion, installed, skip, os) };
        } catch (e) {
            problems.push(`${where} cannot be upgraded from ${from} to ${targetVersion}: ${(e as Error).message}`);
            return undefined;
        }
    });
    if (problems.length) throw new FactsError(problems);
    return resolved as PlannedHost[];
}

/**
 * Before any resource: reads every host's facts and the upgrades this stack recorded (the last
 * finished run's outputs, in parallel; the steps' triggers when those may mislead), and resolves
 * the hosts (assertions, catalog, OS). Throws FactsError naming every host that is unreachable,
 * contradicts the configuration or cannot take the target in place.
 */
export async function planHosts(
    cfg: UpgradeConfig,
    fleetName: string,
    defaultKey: string | undefined,
    hostKeys: ReadonlyMap<string, PinnedKey> = new Map(),
): Promise<{ hosts: PlannedHost[]; facts: Map<string, HostFacts> }> {
    const targets = cfg.hosts.map((h, i): FactTarget => {
        const privateKey = h.sshPrivateKey ?? defaultKey;
        if (privateKey === undefined) throw new Error(`host ${h.name} has no SSH private key`);
        const hostKey = hostKeys.get(h.name);
        return { name: h.name, address: h.address, port: h.port, user: h.user, key: `hosts[${i}]`, privateKey, ...(hostKey ? { hostKey } : {}) };
    });
    const file = process.env[FACTS_FILE_ENV];
    const [facts, lastRun] = await Promise.all([file ? factsFromFile(file, cfg.hosts) : readFacts(targets, cfg), lastRunUpgrades()]);
    const recorded = settledOn(cfg.hosts, facts, lastRun, cfg.targetVersion) ? lastRun! : await recordedUpgrades(fleetName);
    const hosts = resolveHosts(cfg.hosts, facts, recorded, cfg.targetVersion, cfg.skipMigrations);
    // A batch this stack has begun cannot be held again by lowering rollout.throughBatch (rollout.ts).
    const late = heldButStarted(cfg.hosts.map((h) => h.name), cfg.rollout, (n) => (recorded.get(n) ?? []).some((r) => r.to === cfg.targetVersion));
    if (late.length) throw new FactsError(late);
    return { hosts, facts };
}

/**
 * Facts recorded elsewhere, for a review without access to the hosts (and for tests of the engine
 * and the benchmark, whose hosts do not exist): a JSON object, host name -> facts, as the `facts`
 * outputs of a previous run give them. The plan is then only as true as the file: the preview says so.
 */
export const FACTS_FILE_ENV = "ST2_UPGRADE_FACTS_FILE";

function factsFromFile(file: string, hosts: readonly HostConfig[]): Map<string, HostFacts> {
    let all: Record<string, unknown>;
    try {
        all = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
    } catch (e) {
        throw new FactsError([`${FACTS_FILE_ENV}=${file}: cannot read it as JSON: ${(e as Error).message}`]);
    }
    const problems: string[] = [];
    const found = new Map<string, HostFacts>();
    for (const h of hosts) {
        if (!(h.name in all)) problems.push(`${FACTS_FILE_ENV}=${file} has no facts for host ${h.name}`);
        else {
            try {
                found.set(h.name, parseFacts(JSON.stringify(all[h.name])));
            } catch (e) {
                problems.push(`${FACTS_FILE_ENV}=${file}, host ${h.name}: ${(e as Error).message}`);
            }
        }
    }
    if (problems.length) throw new FactsError(problems);
    pulumi.log.warn(`host facts come from ${file} (${FACTS_FILE_ENV}), not from the hosts: this plan is only as true as that file`);
    return found;
}
