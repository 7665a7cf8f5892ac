/**
 * Shell text helpers: quoting and the envelope every step runs in. Everything a host executes is
 * generated through here, so quoting and error handling are decided once.
 */

/** Quotes a value for bash; safe for any byte string without NUL. */
export function q(value: string): string {
    return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `name=(a b c)` with every item quoted. */
export function bashArray(name: string, items: readonly string[]): string {
    return `${name}=(${items.map(q).join(" ")})`;
}

const END = "ST2_UPGRADE_STEP";

export interface StepScript {
    /** The bash program run as root on the host; what shellcheck checks. */
    body: string;
    /**
     * What `remote.Command` runs. Without `stdin`: the whole envelope (runs `body` under `sudo -n`
     * and `timeout`). With `stdin`: a two-line launcher naming host and step.
     */
    command: string;
    /** The envelope, for `remote.Command`'s `stdin`, when the step reads no data of its own. */
    stdin?: string;
}

/** Who and what a script is for: names every message so an error says host, step and cause. */
export interface ScriptIdentity {
    host: string;
    step: string;
    title: string;
}

/**
 * Assembles a step: a bash program with strict mode and messages that name host and step, and the
 * command that runs it as root with a time limit.
 *
 * The body travels as one argument of `bash -c`, not on stdin: a command inside the step that
 * reads stdin (psql, apt's prompts) would otherwise swallow the rest of the script. Stdin is closed
 * unless the step `readsStdin` (credentials or data handed over by the operator's machine).
 *
 * A step that reads no data gets its envelope on stdin and a two-line `command`: pulumi-command
 * words a failure as `Process exited with status N: running "<command>":` followed by the output,
 * all on the first line of the Diagnostics, so a command holding the whole script (KBs) pushed the
 * step's own ERROR line out of sight. The envelope is one brace group: bash parses all of it before
 * running any of it, and the body then runs with stdin closed as before. Preview still shows the
 * script (the `stdin` input).
 */
export function stepScript(
    id: ScriptIdentity,
    functions: readonly string[],
    lines: readonly string[],
    timeoutSeconds: number,
    options: { readsStdin?: boolean } = {},
): StepScript {
    const body = [
        "#!/bin/bash",
        `# st2-upgrade: ${id.title}`,
        "set -euo pipefail",
        `readonly ST2U_HOST=${q(id.host)} ST2U_STEP=${q(id.step)}`,
        `log() { printf '[st2-upgrade %s/%s] %s\\n' "$ST2U_HOST" "$ST2U_STEP" "$*"; }`,
        `die() { printf '[st2-upgrade %s/%s] ERROR: %s\\n' "$ST2U_HOST" "$ST2U_STEP" "$*" >&2; exit 1; }`,
        ...functions,
        ...lines,
        "",
    ].join("\n");
    if (body.split("\n").includes(END)) {
        throw new Error(`step ${id.step} of ${id.host}: the script contains the line ${END}`);
    }
    const tag = `[st2-upgrade ${id.host}/${id.step}]`;
    const envelope = [
        `if ! sudo -n true 2>/dev/null; then echo ${q(`${tag} ERROR: passwordless sudo is required: 'sudo -n true' failed for`)} "$(id -un)@$(hostname)" >&2; exit 1; fi`,
        `step=$(cat <<'${END}'`,
        body,
        END,
        `)`,
        `rc=0; sudo -n timeout -k 30 ${timeoutSeconds} bash -c "$step" st2-upgrade${options.readsStdin ? "" : " </dev/null"} || rc=$?`,
        `if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then echo ${q(`${tag} ERROR: timed out after ${timeoutSeconds} s (timeouts in the stack config)`)} >&2; fi`,
        `exit "$rc"`,
    ];
    if (options.readsStdin) return { body, command: [`# ${id.title}`, ...envelope].join("\n") };
    return {
        body,
        command: [`# ${tag} ${id.title}: the script is this step's stdin`, "exec bash -s"].join("\n"),
        stdin: [`# ${tag} ${id.title}`, "{", ...envelope, "}", ""].join("\n"),
    };
}

/** A read-only script the program runs itself over SSH (not a Pulumi step): see `readScript`. */
export interface ReadScript {
    /** The bash program, sent on stdin; what shellcheck checks. */
    body: string;
    /** The remote command line: runs the body from stdin as root when passwordless sudo allows, else as the user. */
    command: string;
}

/**
 * Assembles a read-only script with the same strict mode and messages as the steps. The body is
 * one brace group read from stdin: bash parses the whole group before running any of it, and the
 * group's stdin is /dev/null, so no command inside can swallow the rest of the script. Running from
 * stdin also keeps the script's text out of process command lines, so `pgrep -f` never finds itself.
 * Without sudo it still reads what the user may (the facts say `root: false`): the steps, not the
 * read, report a missing sudo, with their own message.
 */
export function readScript(id: ScriptIdentity, functions: readonly string[], lines: readonly string[], timeoutSeconds: number): ReadScript {
    const body = [
        "#!/bin/bash",
        `# st2-upgrade: ${id.title}`,
        "set -euo pipefail",
        `readonly ST2U_HOST=${q(id.host)} ST2U_STEP=${q(id.step)}`,
        `log() { printf '[st2-upgrade %s/%s] %s\\n' "$ST2U_HOST" "$ST2U_STEP" "$*" >&2; }`,
        `die() { printf '[st2-upgrade %s/%s] ERROR: %s\\n' "$ST2U_HOST" "$ST2U_STEP" "$*" >&2; exit 1; }`,
        ...functions,
        "{",
        ...lines,
        "} </dev/null",
        "",
    ].join("\n");
    const run = `timeout -k 10 ${timeoutSeconds} bash -s`;
    const command = `if sudo -n true 2>/dev/null; then exec sudo -n ${run}; else exec ${run}; fi`;
    return { body, command };
}
