/**
 * Runs the StackStorm double's own Python code (lab/double/src/st2double) on this machine, without a
 * lab host, for comparisons with real StackStorm's transcripts. Each run gets private PID and mount
 * namespaces (root only, like the lab): its /proc shows only the processes the scenario starts, and
 * a tmpfs over /var/log keeps the double's command log off the machine.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LAB_PROJECT_ROOT } from "../../lab/support/lab";

const SRC = path.join(LAB_PROJECT_ROOT, "lab", "double", "src", "st2double");

/** A folder with `st2double/` (the double's modules, BUILD_INFO.json for VERSION) and `bin/st2ctl`, `bin/st2`. */
export function doubleInstall(version: string, python: string): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `st2double-${version}-`));
    const lib = path.join(root, "st2double");
    fs.mkdirSync(lib);
    for (const f of fs.readdirSync(SRC).filter((f) => f.endsWith(".py"))) fs.symlinkSync(path.join(SRC, f), path.join(lib, f));
    fs.writeFileSync(path.join(lib, "BUILD_INFO.json"), JSON.stringify({ python, version }));
    fs.mkdirSync(path.join(root, "bin"));
    const entry = (mod: string, fn: string) =>
        `#!/bin/sh\nexec python3 -c 'import sys; sys.path.insert(0, "${root}"); from st2double.${mod} import ${fn}; sys.exit(${fn}())' "$@"\n`;
    fs.writeFileSync(path.join(root, "bin", "st2ctl"), entry("ctl", "main"), { mode: 0o755 });
    fs.writeFileSync(path.join(root, "bin", "st2"), entry("cli", "main"), { mode: 0o755 });
    fs.writeFileSync(path.join(root, "bin", "st2-register-content"), entry("ctl", "register_main"), { mode: 0o755 });
    return root;
}

export interface Run {
    stdout: string;
    code: number;
}

/**
 * Runs `command` (bash) with the double's bin (of `install`, if given) first on PATH, in new PID and mount namespaces where
 * one process per line of `processes` runs first, its command line exactly that text (perl's `$0`).
 */
export function runDouble(install: string, command: string, processes: string[] = [], env: Record<string, string> = {}, timeoutMs = 60_000): Run {
    // each fake process renames itself, then leaves a mark, so the command never looks too early
    const starts = processes.map((p) => `perl -e '$0 = shift; open(my $f, ">", "/var/log/up.$$"); close($f); sleep 60' ${shellQuote(p)} &`).join("\n");
    const script = [
        "set -e",
        "mount -t tmpfs none /var/log",
        // the double keeps its "MongoDB" under /var/lib/st2-double
        "mount -t tmpfs none /var/lib",
        starts,
        `for _ in $(seq 1 200); do [ "$(find /var/log -maxdepth 1 -name 'up.*' | wc -l)" -ge ${processes.length} ] && break; sleep 0.05; done`,
        "set +e",
        // st2ctl runs st2-register-content from the packaged path
        install ? `mount -t tmpfs none /opt && mkdir -p /opt/stackstorm/st2/bin && ln -s ${shellQuote(path.join(install, "bin", "st2-register-content"))} /opt/stackstorm/st2/bin/` : "",
        install ? `PATH=${shellQuote(path.join(install, "bin"))}:$PATH` : "",
        `( ${command} ) 2>&1`,
        "echo \"[exit code: $?]\"",
    ].join("\n");
    const r = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "--mount", "--propagation", "private", "bash", "-s"], {
        // on stdin, so that no command line but the scenario's names a service
        input: script,
        encoding: "utf8",
        env: { ...process.env, ...env },
        timeout: timeoutMs,
    });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`unshare failed (${r.status}): ${r.stderr}`);
    const m = r.stdout.match(/\[exit code: (\d+)\]\n$/);
    if (!m) throw new Error(`no exit code in: ${r.stdout}${r.stderr}`);
    return { stdout: r.stdout.slice(0, m.index), code: Number(m[1]) };
}

export function shellQuote(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}
