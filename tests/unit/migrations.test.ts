import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { releaseLine, type CombinePemMigration, type DeleteQueueMigration, type ScriptMigration } from "../../components/catalog";
import { parseConfig } from "../../components/config";
import { plan } from "../../components/plan";
import { upgradeSteps } from "../../components/scripts";
import { iniEdit, iniGet } from "../../components/scripts/library";
import { migrationLines, queueEmptyLines } from "../../components/scripts/migrations";
import { stepScript } from "../../components/scripts/shell";
import { LAB_PROJECT_ROOT } from "../../lab/support/lab";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "st2u-mig-"));

/** Runs the standard prelude, some library functions and lines, with `bin` first on PATH (or alone: `only`). */
function bash(functions: string[], lines: string[], bin?: string, only = false) {
    const { body } = stepScript({ host: "h", step: "s", title: "test" }, functions, lines, 10);
    const env = { ...process.env, PATH: bin ? (only ? bin : `${bin}:${process.env.PATH}`) : process.env.PATH };
    const r = spawnSync("/bin/bash", ["-c", body], { encoding: "utf8", env });
    if (r.error) throw r.error;
    return r;
}

/** A fake command on a private PATH: prints `out`, exits `code`, and records its arguments. */
function fakeTool(name: string, out: string, code: number): { bin: string; calls: () => string } {
    const bin = tmp();
    const log = path.join(bin, "calls");
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "$*" >>'${log}'\nprintf '%s\\n' '${out}'\nexit ${code}\n`, { mode: 0o755 });
    return { bin, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "") };
}

const tls = releaseLine("3.9.0").migrations!.find((m) => m.id === "3.9-database-tls") as CombinePemMigration;
const queue = releaseLine("2.3.0").migrations!.find((m) => m.kind === "deleteQueue") as DeleteQueueMigration;

describe("3.9 database TLS migration", () => {
    const withConf = (database: string) => {
        const dir = tmp();
        const file = path.join(dir, "st2.conf");
        fs.writeFileSync(file, `[api]\nport = 9101\n\n[database]\nhost = db\n${database}\n[auth]\nenable = True\n`);
        return { dir, file, m: { ...tls, file } };
    };

    it("concatenates a separate key and certificate beside the key, keeps its mode, and points tls_certificate_key_file at it", () => {
        const { dir, file, m } = withConf("");
        const key = path.join(dir, "client.key");
        const cert = path.join(dir, "client.crt");
        fs.writeFileSync(key, "KEY\n", { mode: 0o600 });
        fs.writeFileSync(cert, "CERT\n", { mode: 0o644 });
        fs.writeFileSync(file, `[database]\nhost = db\nssl = True\nssl_keyfile = ${key}\nssl_certfile = ${cert}\n\n[auth]\nenable = True\n`);
        for (let round = 0; round < 2; round++) {
            const r = bash([iniGet, iniEdit], migrationLines(m));
            assert.equal(r.status, 0, r.stderr);
        }
        const combined = path.join(dir, "st2-mongodb-client-key-and-cert.pem");
        assert.equal(fs.readFileSync(combined, "utf8"), "KEY\nCERT\n");
        assert.equal(fs.statSync(combined).mode & 0o777, 0o600);
        // The accepted aliases (ssl) and the ignored old options stay; the new option is added once.
        assert.equal(
            fs.readFileSync(file, "utf8"),
            `[database]\ntls_certificate_key_file = ${combined}\nhost = db\nssl = True\nssl_keyfile = ${key}\nssl_certfile = ${cert}\n\n[auth]\nenable = True\n`,
        );
        fs.rmSync(dir, { recursive: true });
    });

    it("uses the certificate file itself when it already holds the key", () => {
        const { dir, file, m } = withConf("ssl_certfile = /etc/ssl/both.pem\nssl_keyfile = /etc/ssl/both.pem\n");
        fs.writeFileSync(file, fs.readFileSync(file, "utf8").replaceAll("/etc/ssl/both.pem", path.join(dir, "both.pem")));
        fs.writeFileSync(path.join(dir, "both.pem"), "KEY\nCERT\n");
        const r = bash([iniGet, iniEdit], migrationLines(m));
        assert.equal(r.status, 0, r.stderr);
        assert.match(fs.readFileSync(file, "utf8"), new RegExp(`\\[database\\]\\ntls_certificate_key_file = ${path.join(dir, "both.pem")}\\n`));
        assert.ok(!fs.existsSync(path.join(dir, "st2-mongodb-client-key-and-cert.pem")));
        fs.rmSync(dir, { recursive: true });
    });

    it("changes nothing without client certificates, and refuses a key without its certificate", () => {
        const none = withConf("ssl = True\nssl_ca_certs = /ca.pem\n");
        const before = fs.readFileSync(none.file, "utf8");
        const r = bash([iniGet, iniEdit], migrationLines(none.m));
        assert.equal(r.status, 0, r.stderr);
        assert.equal(fs.readFileSync(none.file, "utf8"), before);
        const keyOnly = withConf("ssl_keyfile = /k.pem\n");
        const bad = bash([iniGet, iniEdit], migrationLines(keyOnly.m));
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /\[database\] has ssl_keyfile but no ssl_certfile/);
    });
});

describe("2.3 notifier queue", () => {
    it("counts only \"not found\" as an absent queue", () => {
        const missing = fakeTool("rabbitmqadmin", "*** Not found: /api/queues/%2F/st2.notifiers.work", 1);
        const ok = bash([], migrationLines(queue), missing.bin);
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stderr + ok.stdout, /queue st2.notifiers.work was not there/);
        assert.equal(missing.calls(), "delete queue name=st2.notifiers.work\n");
    });

    it("fails on any other error, so the done-marker is not written and the next run retries", () => {
        const down = fakeTool("rabbitmqadmin", "Could not connect: [Errno 111] Connection refused", 2);
        const r = bash([], migrationLines(queue), down.bin);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /ERROR: deleting the RabbitMQ queue st2.notifiers.work failed \(rabbitmqadmin: Could not connect: \[Errno 111\] Connection refused\); is RabbitMQ running\?/);
        assert.doesNotMatch(r.stderr + r.stdout, /was not there/);
    });

    it("checks before upgrading that the queue is empty, and skips the check once st2 is past 2.3", () => {
        const listing = (messages: string) => fakeTool("rabbitmqadmin", `name\tmessages\nst2.notifiers.work\t${messages}\nst2.actionrunner.work\t9`, 0);
        const full = bash([], [`current=2.2.1-8`, ...queueEmptyLines(queue)], listing("5").bin);
        assert.equal(full.status, 1);
        assert.match(full.stderr, /RabbitMQ queue st2.notifiers.work holds 5 message\(s\): let st2notifier drain it/);
        const empty = bash([], [`current=2.2.1-8`, ...queueEmptyLines(queue)], listing("0").bin);
        assert.equal(empty.status, 0, empty.stderr);
        const absent = bash([], [`current=2.2.1-8`, ...queueEmptyLines(queue)], fakeTool("rabbitmqadmin", "name\tmessages", 0).bin);
        assert.equal(absent.status, 0, absent.stderr);
        const resumed = bash([], [`current=2.3.0-1`, ...queueEmptyLines(queue)], listing("5").bin);
        assert.equal(resumed.status, 0, resumed.stderr);
    });
});

/**
 * The lab's RabbitMQ fake (lab/double/src/rabbitmq/rmqfake.py) as `rabbitmqadmin` and `rabbitmqctl`
 * on a private PATH, its state and fault file in a temp folder: the program's own lines against the
 * tools' real output formats, without a lab host.
 */
function rabbitmqFake(queues: Record<string, number>, tools: ("rabbitmqadmin" | "rabbitmqctl")[]) {
    const dir = tmp();
    const lib = path.join(LAB_PROJECT_ROOT, "lab", "double", "src", "rabbitmq");
    const state = path.join(dir, "state");
    const fault = path.join(dir, "rabbitmq-down");
    fs.mkdirSync(state);
    fs.writeFileSync(path.join(state, "queues.tsv"), Object.entries(queues).map(([q, n]) => `${q}\t${n}\n`).join(""));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    // The PATH is this folder alone (a machine may have the real tools): the text tools the lines use are linked in.
    for (const tool of ["awk", "sort", "head", "tail"]) {
        const found = (process.env.PATH ?? "").split(":").map((d) => path.join(d, tool)).find((f) => fs.existsSync(f));
        if (found) fs.symlinkSync(found, path.join(bin, tool));
    }
    const entry: Record<string, string> = { rabbitmqadmin: "admin_main", rabbitmqctl: "ctl_main" };
    for (const tool of tools) {
        const py = [
            "import sys",
            `sys.path.insert(0, ${JSON.stringify(lib)})`,
            "import rmqfake as f",
            `f.STATE_DIR = ${JSON.stringify(state)}; f.STATE = ${JSON.stringify(path.join(state, "queues.tsv"))}`,
            `f.FAULT_DOWN = ${JSON.stringify(fault)}; f.CMD_LOG = ${JSON.stringify(path.join(dir, "commands.log"))}`,
            `sys.exit(f.${entry[tool]}(sys.argv[1:]))`,
        ].join("\n");
        fs.writeFileSync(path.join(bin, tool), `#!/usr/bin/python3 -B\n${py}\n`, { mode: 0o755 });
    }
    return {
        bin,
        queues: () => fs.readFileSync(path.join(state, "queues.tsv"), "utf8"),
        down: () => fs.writeFileSync(fault, ""),
    };
}

describe("2.3 notifier queue on the lab's RabbitMQ fake", () => {
    for (const tool of ["rabbitmqadmin", "rabbitmqctl"] as const) {
        it(`${tool}: refuses a queue holding messages, deletes an empty one once, and an error leaves it for the next run`, () => {
            const preflight = [`current=2.2.0-8`, ...queueEmptyLines(queue)];
            const full = rabbitmqFake({ "st2.notifiers.execution.work": 0, "st2.notifiers.work": 3 }, [tool]);
            const refused = bash([], preflight, full.bin, true);
            assert.equal(refused.status, 1, refused.stdout);
            assert.match(refused.stderr, /RabbitMQ queue st2\.notifiers\.work holds 3 message\(s\): let st2notifier drain it/);

            const fake = rabbitmqFake({ "st2.notifiers.work": 0 }, [tool]);
            assert.equal(bash([], preflight, fake.bin, true).status, 0);
            const deleted = bash([], migrationLines(queue), fake.bin, true);
            assert.equal(deleted.status, 0, deleted.stderr);
            assert.match(deleted.stdout, /deleted queue st2\.notifiers\.work/);
            assert.equal(fake.queues(), "");
            const again = bash([], migrationLines(queue), fake.bin, true);
            assert.equal(again.status, 0, again.stderr);
            assert.match(again.stdout, /queue st2\.notifiers\.work was not there/);

            const down = rabbitmqFake({ "st2.notifiers.work": 0 }, [tool]);
            down.down();
            const failed = bash([], migrationLines(queue), down.bin, true);
            assert.equal(failed.status, 1);
            assert.match(failed.stderr, new RegExp(`ERROR: deleting the RabbitMQ queue st2\\.notifiers\\.work failed \\(${tool}: .+\\); is RabbitMQ running\\?`));
            assert.equal(down.queues(), "st2.notifiers.work\t0\n", "nothing deleted: the next run tries again");
            const unchecked = bash([], preflight, down.bin, true);
            assert.equal(unchecked.status, 1);
            assert.match(unchecked.stderr, /failed: cannot check that st2\.notifiers\.work is empty/);
        });
    }
});

describe("migration scripts before 2.8", () => {
    it("run with --config-file /etc/st2/st2.conf, and without it from 2.8 on", () => {
        const dir = tmp();
        const script = path.join(dir, "st2-migrate-datastore-scopes.py");
        fs.writeFileSync(script, `#!/bin/sh\necho "args: $*"\n`, { mode: 0o755 });
        const m: ScriptMigration = { kind: "script", id: "t", why: "t", path: script, readsSt2Conf: true };
        assert.match(bash([], migrationLines(m, "2.1.1")).stdout, /^args: --config-file \/etc\/st2\/st2.conf$/m);
        assert.match(bash([], migrationLines(m, "3.0.1")).stdout, /^args: $/m);
    });
});

describe("preflight without hosts[].packages", () => {
    it("refuses a host with bwc-enterprise when the target has no enterprise edition", () => {
        const cfg = parseConfig({
            targetVersion: "3.4.1",
            hosts: [{ name: "st2-a", address: "10.0.0.11", user: "stackstorm", currentVersion: "3.0.1", packageManager: "apt" }],
            sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
        });
        const host = { ...cfg.hosts[0], currentVersion: "3.0.1", packageManager: "apt" as const };
        const steps = upgradeSteps({ host, hostIndex: 0, plan: plan("3.0.1", "3.4.1"), settings: cfg });
        const preflight = steps.find((s) => s.key === "preflight")!;
        const body = JSON.stringify(preflight);
        assert.match(body, /pm_installed bwc-enterprise/);
        assert.match(body, /cannot upgrade 3.0.1 -> 3.4.1 with bwc-enterprise installed: the enterprise edition ends with 3.2/);
    });
});
