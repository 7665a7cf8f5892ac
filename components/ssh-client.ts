/**
 * The system OpenSSH client, spawned from the program: the one place that builds its options and
 * runs it with a time limit. The fact read (facts.ts, read before any step) uses it, and so do the
 * lab's test helpers (lab/support/lab.ts), so a host the tests reach is reached the same way.
 * Why OpenSSH and not an SSH library: see facts.ts.
 */
import { spawn } from "node:child_process";

/** What one ssh run gave back. `code` is ssh's exit code (255: ssh itself failed), or 255 when it was killed. */
export interface SshRunResult {
    code: number;
    stdout: string;
    stderr: string;
    /** Killed after its time limit. */
    timedOut: boolean;
}

/** Where to log in. */
export interface SshEndpoint {
    user: string;
    address: string;
    port: number;
}

/** No host-key check: what pulumi-command's client does when no `hostKey` is pinned. */
export const UNCHECKED_HOST_KEY = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"] as const;

/**
 * Key exchanges the steps' client never offers, removed from OpenSSH's defaults. pulumi-command 1.2.1
 * (golang.org/x/crypto v0.48.0, ssh/common.go `defaultKexAlgos`) offers mlkem768x25519-sha256, then
 * curve25519-sha256 and older ones; OpenSSH 9.x prefers sntrup761x25519, whose implementation in
 * OpenSSH 9.2 costs about 60 ms of CPU on each side of every login (measured: 5 logins to a lab host
 * took 0.34 s of client CPU with it, 0.04 s without). Removing it (a `-` list, OpenSSH 7.5 and later;
 * Node.js 18+ binaries need glibc 2.28, nodejs/node BUILDING.md since commit 3671cc0: Debian 10,
 * Ubuntu 20.04, RHEL 8, which ship OpenSSH 7.9 or later; names this ssh does not know are ignored) leaves
 * mlkem768x25519 first where this OpenSSH has it (9.9 and later), else curve25519: the exchange the
 * steps negotiate with the same sshd.
 */
export const STEPS_KEX = "KexAlgorithms=-sntrup761x25519-sha512@openssh.com,sntrup761x25519-sha512";

/**
 * ssh's arguments up to the command: no ssh_config of the operator (`-F /dev/null`: no ProxyJump or
 * options the steps' own client would not have), only this key, no prompt, the key exchanges the
 * steps' client offers (STEPS_KEX), the host-key options (hostkeys.ts `sshHostKeyOptions`: the pinned
 * key alone, or no check as pulumi-command without a pin), then `extra` options and the login.
 */
export function sshArgs(
    to: SshEndpoint,
    keyFile: string,
    connectTimeoutSeconds: number,
    extra: readonly string[] = [],
    hostKeyOptions: readonly string[] = UNCHECKED_HOST_KEY,
): string[] {
    return [
        "-F", "/dev/null",
        "-i", keyFile,
        "-p", String(to.port),
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
        "-o", STEPS_KEX,
        ...hostKeyOptions.flatMap((o) => ["-o", o]),
        "-o", `ConnectTimeout=${connectTimeoutSeconds}`,
        ...extra,
        "--", `${to.user}@${to.address}`,
    ];
}

/** This process's environment without LANG and LC_*: a locale the host lacks makes its tools warn on every line. */
export function sshEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k === "LANG" || k === "LANGUAGE" || k.startsWith("LC_")) delete env[k];
    return env;
}

/**
 * Runs `ssh args…` without blocking, `input` on its stdin; killed (SIGKILL) after `timeoutMs`.
 * Rejects only when ssh cannot be started; every other outcome is in the result.
 */
export function runSsh(args: readonly string[], input: string, timeoutMs: number): Promise<SshRunResult> {
    return new Promise((resolve, reject) => {
        const child = spawn("ssh", args, { env: sshEnv(), stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        let timedOut = false;
        const timer = setTimeout(() => {
            timedOut = true;
            child.kill("SIGKILL");
        }, timeoutMs);
        child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code: code ?? 255, stdout, stderr, timedOut });
        });
        child.stdin.on("error", () => undefined); // a host that drops the session early is reported by the exit code
        child.stdin.end(input);
    });
}
