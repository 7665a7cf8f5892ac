// Content roll-over end to end: a seeded 2.0.1 host rolled over to a fresh 3.9.0 host by the real
// program and engine; keys (every one, secrets included), packs and audit logs checked on both
// sides; a second up runs nothing; no secret value reaches the engine's output or state.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureToolchain } from "../../lab/support/engine";
import { labDown, labUp, sshdSessions, sshRun, type LabHost } from "../../lab/support/lab";
import { inventory, type Inventory } from "../../lab/support/inventory";
import { programStack, show, type ProgramStack } from "../../lab/support/program";

const MINUTES = 60_000;
const PASSWORD = "Ch@ngeMe-rollover";

interface Report {
    keysMoved: { total: number; byScope: Record<string, number>; secrets: number; matched: number };
    packsInstalled: string[];
    auditLogs: { destination: string; files: { name: string; sha256: string; bytes: number }[] };
}

describe("content roll-over 2.0.1 -> 3.9.0", { timeout: 30 * MINUTES }, () => {
    let oldHost: LabHost;
    let newHost: LabHost;
    let stack: ProgramStack;
    let before0: Inventory;
    let secretValues: string[];
    const logLines = new Map<string, number>();
    const commandLog = (h: LabHost) => sshRun(h, "sudo cat /var/log/st2-double/commands.log").stdout.split("\n");

    before(() => {
        ensureToolchain();
        [oldHost] = labUp({ hosts: 1, version: "2.0.1", prefix: "rlo" });
        // A fresh instance: StackStorm installed with its admin user, no keys.
        [newHost] = labUp({ hosts: 1, version: "3.9.0", prefix: "rln", seed: { keys: 0, password: PASSWORD } });
        before0 = inventory(oldHost);
        const listed = sshRun(oldHost, "sudo st2 key list -j --scope system --decrypt").stdout;
        secretValues = [...listed.matchAll(/"value": "(secret-value-[^"]+)"/g)].map((m) => m[1]);
        for (const h of [oldHost, newHost]) logLines.set(h.name, commandLog(h).length);
        stack = programStack({
            sshPrivateKeyPath: oldHost.privateKeyPath,
            rollover: {
                oldHost: { name: oldHost.name, address: oldHost.address, user: oldHost.user, version: "2.0.1" },
                newHost: { name: newHost.name, address: newHost.address, user: newHost.user, version: "3.9.0", st2: { username: "st2admin" } },
                packs: [
                    { name: "lab_web", repoUrl: "file:///srv/git/lab_web.git" },
                    { name: "lab_ops", repoUrl: "file:///srv/git/lab_ops.git" },
                ],
                auditLogs: { dir: "audit" },
            },
        });
        const set = stack.pulumi(["config", "set", "--secret", "--path", "st2-upgrade:rollover.newHost.st2.password", PASSWORD]);
        assert.equal(set.code, 0, show(set));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "rlo" });
        labDown({ prefix: "rln" });
    });

    it("moves every key, installs the packs and keeps the audit logs", () => {
        assert.ok(secretValues.length > 0, "the old host's secrets decrypt there");
        const r = stack.up();
        assert.equal(r.code, 0, show(r));

        const after = inventory(newHost);
        assert.equal(after.st2_version, "3.9.0");
        assert.deepEqual(after.keys.names, before0.keys.names, "same key names in each scope");
        assert.deepEqual(after.keys.by_logical_scope, before0.keys.by_logical_scope);
        assert.deepEqual(after.keys.value_digest, before0.keys.value_digest, "same values, secrets decrypted and re-encrypted");
        assert.deepEqual(after.keys.secrets.names, before0.keys.secrets.names);
        assert.equal(after.keys.secrets.decryptable, before0.keys.secrets.total, "every secret decrypts with the new host's key");
        for (const pack of ["lab_web", "lab_ops"]) assert.ok(after.packs.registered.includes(pack), pack);

        const report = (stack.outputs() as { rollover: Report }).rollover;
        assert.equal(report.keysMoved.total, before0.keys.total);
        assert.equal(report.keysMoved.matched, before0.keys.total);
        assert.equal(report.keysMoved.secrets, before0.keys.secrets.total);
        assert.deepEqual([...report.packsInstalled].sort(), ["lab_ops", "lab_web"]);
        const files = report.auditLogs.files;
        for (const file of Object.keys(before0.audit_logs)) {
            const copied = files.find((f) => path.basename(f.name) === file);
            assert.ok(copied, `${file} copied: ${JSON.stringify(report.auditLogs)}`);
            const local = [path.resolve(stack.dir, report.auditLogs.destination, copied.name), path.resolve(stack.dir, copied.name)].find((p) => fs.existsSync(p));
            assert.ok(local, `${copied.name} is at the destination ${report.auditLogs.destination}`);
            assert.equal(createHash("sha256").update(fs.readFileSync(local)).digest("hex"), copied.sha256, "same bytes at the destination");
            // A snapshot of the old host's log: its bytes are the old file's first bytes.
            const onHost = sshRun(oldHost, `sudo head -c ${copied.bytes} /var/log/st2/${file} | sha256sum`).stdout.split(" ")[0];
            assert.equal(onHost, copied.sha256, `${file} matches the old host's log`);
        }
    });

    it("runs nothing on a second up", () => {
        const sessions = [sshdSessions(oldHost), sshdSessions(newHost)];
        const r = stack.up();
        assert.equal(r.code, 0, show(r));
        assert.deepEqual(r.ran, []);
        assert.ok(r.events.every((e) => e.op === "same"), JSON.stringify(r.events.filter((e) => e.op !== "same")));
        assert.deepEqual([sshdSessions(oldHost), sshdSessions(newHost)], sessions);
    });

    it("leaves no secret value or password in the engine's output, the state or the hosts' command logs", () => {
        const state = stack.pulumi(["stack", "export"]);
        assert.equal(state.code, 0, show(state));
        // Debug-level diagnostics left out, as in tests/e2e/faults.test.ts.
        const logs = fs
            .readdirSync(stack.dir)
            .filter((f) => f.startsWith("events-"))
            .map((f) => fs.readFileSync(path.join(stack.dir, f), "utf8").split("\n").filter((line) => !line.includes('"prefix":"debug: "')).join("\n"));
        // What the roll-over made the hosts run (seeding put the secrets there before, by design).
        const commandLogs = [oldHost, newHost].map((h) => commandLog(h).slice(logLines.get(h.name)! - 1).join("\n"));
        const texts: [string, string][] = [["state", state.stdout], ...logs.map((l, i): [string, string] => [`event log ${i}`, l]), ...commandLogs.map((l, i): [string, string] => [`command log ${i}`, l])];
        for (const [where, text] of texts) {
            assert.ok(!text.includes(PASSWORD), `the st2 password leaked into the ${where}`);
            // Whole values: "secret-value-5" must not match inside "secret-value-55".
            for (const v of secretValues) assert.doesNotMatch(text, new RegExp(`${v}(?![0-9])`), `secret ${v} leaked into the ${where}`);
        }
    });
});
