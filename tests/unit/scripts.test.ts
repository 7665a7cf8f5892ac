import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import type { IniRenameMigration, IniSetMigration } from "../../components/catalog";
import { parseConfig } from "../../components/config";
import { parseBackupName, plan, restorePlan } from "../../components/plan";
import { upgradeSteps, type Step } from "../../components/scripts";
import { iniEdit, iniGet, legPins, st2Processes, versionGe } from "../../components/scripts/library";
import { migrationLines } from "../../components/scripts/migrations";
import { q, stepScript } from "../../components/scripts/shell";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

function stepsFor(from: string, to: string, packageManager: "apt" | "yum", packages?: string[]): Step[] {
    const cfg = parseConfig({
        targetVersion: to,
        hosts: [{ name: "st2-a", address: "10.0.0.11", user: "stackstorm", currentVersion: from, packageManager, ...(packages ? { packages } : {}) }],
        sshPrivateKey: KEY,
        backup: { extraPaths: ["/var/lib/st2 data"] },
    });
    const host = { ...cfg.hosts[0], currentVersion: from, packageManager };
    return upgradeSteps({ host, hostIndex: 0, plan: plan(from, to, cfg.hosts[0].packages), settings: cfg });
}

/** The restore chain of a host running `from` whose newest backup was taken at `to` before the upgrade to `from`. */
function restoreStepsFor(from: string, to: string, packageManager: "apt" | "yum", acceptLoss = false): Step[] {
    const cfg = parseConfig({
        targetVersion: to,
        hosts: [{ name: "st2-a", address: "10.0.0.11", user: "stackstorm", currentVersion: from, packageManager }],
        sshPrivateKey: KEY,
        backup: { dir: "/var/backups/st2 upgrade", extraPaths: ["/var/lib/st2 data"] },
        restore: { acceptLoss },
    });
    const source = parseBackupName(`20261128T031500Z-${to}-to-${from}`)!;
    const host = { ...cfg.hosts[0], currentVersion: from, packageManager, packages: ["st2", "st2web"] as const };
    return upgradeSteps({ host: { ...host, packages: [...host.packages] }, hostIndex: 0, plan: restorePlan(from, to, source), settings: cfg });
}

function run(cmd: string, args: string[], input?: string) {
    const r = spawnSync(cmd, args, { input, encoding: "utf8" });
    if (r.error) throw r.error;
    return r;
}

/** Runs a bash program made of the standard prelude, some library functions and lines. */
function bash(functions: string[], lines: string[]) {
    const { body } = stepScript({ host: "h", step: "s", title: "test" }, functions, lines, 10);
    return run("bash", ["-c", body]);
}

const MATRIX: [string, string, "apt" | "yum", string[]?][] = [
    ["1.4.0", "3.9.0", "apt"],
    ["2.0.1", "3.9.0", "apt", ["st2", "st2web", "st2chatops", "st2mistral"]],
    ["2.0.1", "2.2.0", "yum"],
    ["2.2.0", "3.2.0", "yum", ["st2", "st2web", "bwc-enterprise", "st2mistral"]],
    ["3.8.1", "3.9.0", "apt"],
];

const RESTORES: [string, string, "apt" | "yum", boolean][] = [
    ["3.2.0", "3.0.1", "apt", false],
    ["3.9.0", "3.8.1", "yum", true],
    ["2.2.0", "2.0.1", "apt", false],
];

describe("generated scripts", () => {
    const all = [
        ...MATRIX.flatMap(([from, to, pm, pkgs]) => stepsFor(from, to, pm, pkgs).map((s) => ({ id: `${from}->${to} ${pm} ${s.key}`, s }))),
        ...RESTORES.flatMap(([from, to, pm, accept]) => restoreStepsFor(from, to, pm, accept).map((s) => ({ id: `restore ${from}->${to} ${pm} ${s.key}`, s }))),
    ];

    it("undo a host with the restore chain, in order", () => {
        assert.deepEqual(
            restoreStepsFor("3.2.0", "3.0.1", "apt").map((s) => s.key),
            ["restore-preflight", "restore-stop", "restore-packages", "restore-files", "restore-databases", "restore-start", "restore-datastore", "restore-verify"],
        );
        const [pre] = restoreStepsFor("3.2.0", "3.0.1", "apt");
        assert.match(pre.script.body, /die "the restore would lose work done since the backup/);
        assert.doesNotMatch(restoreStepsFor("3.2.0", "3.0.1", "apt", true)[0].script.body, /die "the restore would lose/);
        // Before 3.0 key load cannot carry a secret's ciphertext: the export alone is refused.
        assert.match(restoreStepsFor("2.2.0", "2.0.1", "apt")[0].script.body, /cannot load it back faithfully/);
        assert.doesNotMatch(pre.script.body, /cannot load it back faithfully/);
    });

    it("cover every step of the runbook, in order", () => {
        assert.deepEqual(
            stepsFor("2.0.1", "3.9.0", "apt").map((s) => s.key),
            [
                "preflight", "fetch", "backup", "stop",
                "packages-3.0.1", "mistral-db-3.0.1", "migrate-2.1-datastore-scopes", "migrate-2.1-runners",
                "migrate-2.3-notifier-queue", "migrate-2.8-workflow-engine-logging", "migrate-2.9-timers-engine-logging",
                "packages-3.9.0", "migrate-3.9-database-tls", "start", "verify",
            ],
        );
        // 2.1 and earlier: migration scripts before the Mistral database.
        assert.deepEqual(stepsFor("2.0.1", "2.1.1", "apt").map((s) => s.key).slice(4), ["packages-2.1.1", "migrate-2.1-datastore-scopes", "migrate-2.1-runners", "mistral-db-2.1.1", "start", "verify"]);
        assert.deepEqual(stepsFor("3.9.0", "3.9.0", "apt"), []);
    });

    it(`pass bash -n and shellcheck (${all.length} scripts)`, () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-sc-"));
        const bodies: string[] = [];
        const commands: string[] = [];
        all.forEach(({ s }, i) => {
            bodies.push(path.join(dir, `${i}.bash`));
            fs.writeFileSync(bodies[bodies.length - 1], s.script.body);
            commands.push(path.join(dir, `${i}.sh`));
            fs.writeFileSync(commands[i], `#!/bin/sh\n${s.script.command}\n`);
            // The envelope bash reads from stdin is checked as bash, like the bodies.
            bodies.push(path.join(dir, `${i}-stdin.bash`));
            fs.writeFileSync(bodies[bodies.length - 1], `#!/bin/bash\n${s.script.stdin ?? ""}`);
        });
        for (const f of bodies) {
            const r = run("bash", ["-n", f]);
            assert.equal(r.status, 0, `${f}: ${r.stderr}`);
        }
        const bodyCheck = run("shellcheck", ["-s", "bash", "-f", "gcc", ...bodies]);
        assert.equal(bodyCheck.status, 0, `shellcheck (step bodies and envelopes):\n${bodyCheck.stdout}${bodyCheck.stderr}`);
        const cmdCheck = run("shellcheck", ["-s", "sh", "-f", "gcc", ...commands]);
        assert.equal(cmdCheck.status, 0, `shellcheck (remote commands):\n${cmdCheck.stdout}${cmdCheck.stderr}`);
        fs.rmSync(dir, { recursive: true });
    });

    it("are plain text a reviewer can read: no encoded blobs, no key material", () => {
        for (const { id, s } of all) {
            assert.doesNotMatch(s.script.command, /[A-Za-z0-9+/]{80,}/, id);
            assert.doesNotMatch(s.script.command, /PRIVATE KEY/, id);
            assert.match(s.script.body, /^#!\/bin\/bash\n# st2-upgrade: .+\nset -euo pipefail\n/, id);
        }
    });

    it("run as root under sudo -n with a time limit, failing clearly without passwordless sudo", () => {
        const [pre] = stepsFor("3.8.1", "3.9.0", "apt");
        assert.match(pre.script.stdin!, /sudo -n timeout -k 30 600 bash -c "\$step" st2-upgrade <\/dev\/null/);
        assert.match(pre.script.stdin!, /\[st2-upgrade st2-a\/preflight\] ERROR: passwordless sudo is required/);
    });

    it("send the script on stdin behind a two-line command that names host and step", () => {
        for (const { id, s } of all) {
            const lines = s.script.command.split("\n");
            assert.equal(lines.length, 2, id);
            assert.match(lines[0], /^# \[st2-upgrade [^ /]+\/[^ \]]+\] .+: the script is this step's stdin$/, id);
            assert.equal(lines[1], "exec bash -s", id);
            assert.ok(s.script.stdin!.includes(s.script.body), id);
        }
    });

    it("run the whole script from stdin: a command that reads stdin swallows nothing, exit codes and errors pass through", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-stdin-"));
        // sudo as the provider's session would meet it, minus the privilege change.
        fs.writeFileSync(path.join(dir, "sudo"), `#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n`, { mode: 0o755 });
        const step = (lines: string[]) => stepScript({ host: "h1", step: "probe", title: "probe" }, [], lines, 30);
        const launch = (s: ReturnType<typeof step>) =>
            spawnSync("bash", ["-c", s.command], { input: s.stdin, encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
        const ok = launch(step([`if read -r line; then echo "swallowed: $line"; fi`, `log "after the read"`]));
        assert.equal(ok.status, 0, ok.stderr);
        assert.equal(ok.stdout, "[st2-upgrade h1/probe] after the read\n");
        const failed = launch(step([`die "the cause, and the fix"`, `log "never"`]));
        assert.equal(failed.status, 1);
        assert.equal(failed.stdout, "");
        assert.equal(failed.stderr, "[st2-upgrade h1/probe] ERROR: the cause, and the fix\n");
        fs.rmSync(dir, { recursive: true });
    });

    it("pin each package to its own revision of the target, never assuming -1", () => {
        const fetch = stepsFor("3.8.1", "3.9.0", "apt").find((s) => s.key === "fetch")!;
        assert.match(fetch.script.body, /apt-cache madison/);
        assert.match(fetch.script.body, /pins=\$\(leg_pins 3\.9\.0 st2 st2web st2chatops\)/);
        const yumUp = stepsFor("2.0.1", "2.2.0", "yum").find((s) => s.key === "packages-2.2.0")!;
        assert.match(yumUp.script.body, /yum -y --disableplugin=versionlock update "\$@"/);
    });
});

describe("bash library", () => {
    it("quotes anything for bash", () => {
        for (const value of ["plain", "two words", "it's", "$(rm -rf /)", "a\nb", "", "`x`"]) {
            const r = run("bash", ["-c", `printf '%s' ${q(value)}`]);
            assert.equal(r.stdout, value);
        }
    });

    it("compares versions", () => {
        const r = bash([versionGe], [
            `version_ge 3.10.0 3.9.0 && echo a`, `version_ge 3.9.0 3.10.0 || echo b`, `version_ge 2.2.0 2.2.0 && echo c`,
        ]);
        assert.equal(r.stdout, "a\nb\nc\n");
    });

    it("resolves only packages that are installed and not yet at the version", () => {
        const stubs = [
            `pm_installed() { case $1 in st2) echo 2.0.1-1 ;; st2web) echo 3.0.1-3 ;; st2mistral) echo 2.0.1-2 ;; esac; }`,
            `pm_resolve() { printf '%s=%s-9\\n' "$1" "$2"; }`,
        ];
        const r = bash([versionGe, legPins, ...stubs], [`leg_pins 3.0.1 st2 st2web st2chatops st2mistral`]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "st2=3.0.1-9\nst2mistral=3.0.1-9\n");
        assert.match(r.stderr, /st2web 3.0.1-3 is already at or past 3.0.1/);
    });

    it("lists StackStorm processes but never the script that looks for them", () => {
        const sleeper = run("bash", ["-c", "(exec -a st2api sleep 30) >/dev/null 2>&1 & echo $!"]);
        const pid = sleeper.stdout.trim();
        try {
            const r = bash([st2Processes], [`st2_processes | awk '{ print $1 }'`]);
            assert.equal(r.stdout.trim().split("\n").filter((p) => p === pid).length, 1, r.stdout);
            assert.doesNotMatch(r.stdout, /bash/);
        } finally {
            process.kill(Number(pid));
        }
    });
});

describe("config migrations", () => {
    const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "st2u-ini-"));

    it("adds a key under an existing section, appends a missing section, and is idempotent", () => {
        const dir = tmp();
        const file = path.join(dir, "st2.conf");
        fs.writeFileSync(file, "[api]\nport = 9101\n\n[workflow_engine]\ndebug = False\n\n[auth]\nenable = True\n");
        fs.chmodSync(file, 0o640);
        const set = (section: string, key: string): IniSetMigration => ({ kind: "iniSet", id: `t-${section}`, why: "test", file, section, key, value: `/etc/st2/${section}.conf` });
        for (let round = 0; round < 2; round++) {
            for (const m of [set("workflow_engine", "logging"), set("timersengine", "logging")]) {
                const r = bash([iniGet, iniEdit], migrationLines(m));
                assert.equal(r.status, 0, r.stderr);
            }
        }
        assert.equal(
            fs.readFileSync(file, "utf8"),
            "[api]\nport = 9101\n\n[workflow_engine]\nlogging = /etc/st2/workflow_engine.conf\ndebug = False\n\n[auth]\nenable = True\n\n[timersengine]\nlogging = /etc/st2/timersengine.conf\n",
        );
        assert.equal(fs.statSync(file).mode & 0o777, 0o640, "mode kept");
        assert.ok(fs.existsSync(`${file}.before-t-workflow_engine`), "original kept beside the file");
        fs.rmSync(dir, { recursive: true });
    });

    it("renames keys of one section only, keeping values, and leaves a key that has both names", () => {
        const dir = tmp();
        const file = path.join(dir, "st2.conf");
        fs.writeFileSync(file, "[messaging]\nssl = True\n\n[database]\nhost = db\nssl = True\nssl_ca_certs = /ca.pem\nssl_keyfile = /k\n");
        const m: IniRenameMigration = {
            kind: "iniRename", id: "t-tls", why: "test", file, section: "database",
            renames: [{ from: "ssl", to: "tls" }, { from: "ssl_ca_certs", to: "tls_ca_file" }],
        };
        for (let round = 0; round < 2; round++) {
            const r = bash([iniGet, iniEdit], migrationLines(m));
            assert.equal(r.status, 0, r.stderr);
        }
        assert.equal(fs.readFileSync(file, "utf8"), "[messaging]\nssl = True\n\n[database]\nhost = db\ntls = True\ntls_ca_file = /ca.pem\nssl_keyfile = /k\n");
        fs.rmSync(dir, { recursive: true });
    });

    it("fails a script migration clearly when the package does not ship the script", () => {
        const r = bash([], migrationLines({ kind: "script", id: "2.1-datastore-scopes", why: "t", path: "/nonexistent/st2-migrate-datastore-scopes.py" }));
        assert.equal(r.status, 1);
        assert.equal(r.stderr, "[st2-upgrade h/s] ERROR: /nonexistent/st2-migrate-datastore-scopes.py is missing: the installed st2 does not ship it, so 2.1-datastore-scopes cannot run\n");
    });

    it("reports a failing script migration with its last line", () => {
        const dir = tmp();
        const script = path.join(dir, "migrate.sh");
        fs.writeFileSync(script, "#!/bin/sh\necho working\necho 'ABORTED: scope st2kv.bogus unknown'\nexit 1\n", { mode: 0o755 });
        const r = bash([], migrationLines({ kind: "script", id: "t-mig", why: "t", path: script }));
        assert.equal(r.status, 1);
        assert.match(r.stderr, /working\nABORTED: scope st2kv.bogus unknown\n\[st2-upgrade h\/s\] ERROR: t-mig failed: ABORTED: scope st2kv.bogus unknown\n$/);
        fs.rmSync(dir, { recursive: true });
    });
});
