// The real engine's preview of the real program on a stack of several hosts (none needs to exist:
// preview runs nothing): the planned resources, their order and dependencies, read from the
// engine's own JSON, and the script text a reviewer approves.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { execFileSync } from "node:child_process";
import { ensureToolchain } from "../../lab/support/engine";
import { fakeFacts, useFactsFile } from "../../lab/support/facts";
import { programStack, type ProgramStack } from "../../lab/support/program";

interface PreviewStep {
    op: string;
    urn: string;
    newState?: { type: string; parent?: string; dependencies?: string[]; inputs?: Record<string, unknown> };
}

const nameOf = (urn: string) => urn.split("::").pop()!;

describe("pulumi preview of the program", { timeout: 30 * 60_000 }, () => {
    let stack: ProgramStack;
    let keyDir: string;
    let steps: PreviewStep[];

    before(() => {
        ensureToolchain();
        keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "st2-preview-key-"));
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(keyDir, "id")]);
        stack = programStack({
            // 3.8.1: the newest release CentOS 7 can reach in place (3.9 has no EL7 packages), so the
            // long path with its stepping stone is one real hosts can take.
            targetVersion: "3.8.1",
            hosts: [
                { name: "web1", address: "192.0.2.11", user: "st2", currentVersion: "2.0.1", packages: ["st2", "st2web", "st2mistral"] },
                { name: "web2", address: "192.0.2.12", user: "st2", currentVersion: "3.2.0" },
                { name: "web3", address: "192.0.2.13", user: "st2", currentVersion: "3.6.0", packageManager: "yum" },
                { name: "web4", address: "192.0.2.14", user: "st2", currentVersion: "3.8.1" },
            ],
            sshPrivateKeyPath: path.join(keyDir, "id"),
            rollout: { batchSize: 2 },
        });
        // The hosts do not exist: their facts come from a file (FACTS_FILE_ENV), as a review without
        // access to the hosts would have them. tests/e2e read real hosts.
        useFactsFile(keyDir, stack.env, {
            web1: fakeFacts("2.0.1", "centos:7", { packages: { st2: "2.0.1-1", st2web: "2.0.1-1", st2mistral: "2.0.1-1" } }),
            web2: fakeFacts("3.2.0", "ubuntu:18.04", { packages: { st2: "3.2.0-1" } }),
            web3: fakeFacts("3.6.0", "rocky:8.9", { packages: { st2: "3.6.0-1" } }),
            web4: fakeFacts("3.8.1", "ubuntu:20.04", { packages: { st2: "3.8.1-1" } }),
        });
        const r = stack.pulumi(["preview", "--json"]);
        assert.equal(r.code, 0, r.stderr + r.stdout.slice(-3000));
        steps = (JSON.parse(r.stdout) as { steps: PreviewStep[] }).steps;
    });
    after(() => {
        stack?.cleanup();
        fs.rmSync(keyDir, { recursive: true, force: true });
    });

    it("plans every host's chain, in runbook order, and nothing for a host already at the target", () => {
        const commands = steps.filter((s) => s.newState?.type === "command:remote:Command");
        assert.ok(commands.every((s) => s.op === "create"));
        const chain = (host: string) => commands.map((s) => nameOf(s.urn)).filter((n) => n.startsWith(`st2-${host}-`)).map((n) => n.slice(`st2-${host}-`.length));
        assert.deepEqual(chain("web1"), [
            "preflight", "fetch", "backup", "stop",
            "packages-3.0.1", "mistral-db-3.0.1", "migrate-2.1-datastore-scopes", "migrate-2.1-runners",
            "migrate-2.3-notifier-queue", "migrate-2.8-workflow-engine-logging", "migrate-2.9-timers-engine-logging",
            "packages-3.8.1", "start", "verify",
        ]);
        assert.deepEqual(chain("web2"), ["preflight", "fetch", "backup", "stop", "packages-3.8.1", "start", "verify"]);
        assert.deepEqual(chain("web3"), ["preflight", "fetch", "backup", "stop", "packages-3.8.1", "start", "verify"]);
        assert.deepEqual(chain("web4"), []);
        const components = steps.filter((s) => s.newState?.type === "st2upgrade:host:StackStormHost").map((s) => nameOf(s.urn)).sort();
        assert.deepEqual(components, ["st2-web1", "st2-web2", "st2-web3", "st2-web4"]);
        assert.ok(steps.some((s) => s.newState?.type === "st2upgrade:fleet:StackStormFleet"));
    });

    it("chains each step on the one before, and batch 2 on batch 1's verification (the engine's own dependencies)", () => {
        const deps = new Map(steps.map((s) => [nameOf(s.urn), (s.newState?.dependencies ?? []).map(nameOf)]));
        assert.ok(deps.get("st2-web1-fetch")!.includes("st2-web1-preflight"), JSON.stringify(deps.get("st2-web1-fetch")));
        assert.ok(deps.get("st2-web1-verify")!.includes("st2-web1-start"));
        assert.deepEqual([...deps.get("st2-web1-stop")!].sort(), ["st2-web1-backup", "st2-web2-backup"]);
        assert.deepEqual([...deps.get("st2-web3-preflight")!].sort(), ["st2-web1-verify", "st2-web2-verify"]);
        // Order of the engine's plan respects every dependency.
        const position = new Map(steps.map((s, i) => [nameOf(s.urn), i]));
        for (const [name, ds] of deps) for (const d of ds) assert.ok(position.get(d)! < position.get(name)!, `${d} before ${name}`);
    });

    it("shows the exact script of each step, readable, with the yum strategy where configured", () => {
        const input = (name: string) => steps.find((s) => nameOf(s.urn) === name)!.newState!.inputs!;
        // The command names host and step in two lines; the script itself is the step's stdin.
        const script = (name: string) => String(input(name).stdin);
        assert.equal(String(input("st2-web1-mistral-db-3.0.1").create), "# [st2-upgrade web1/mistral-db-3.0.1] upgrade the Mistral database for 3.0.1 (host web1, 2.0.1 -> 3.8.1): the script is this step's stdin\nexec bash -s");
        assert.match(script("st2-web1-mistral-db-3.0.1"), /^# \[st2-upgrade web1\/mistral-db-3\.0\.1\] upgrade the Mistral database for 3\.0\.1 \(host web1, 2\.0\.1 -> 3\.8\.1\)\n/);
        assert.match(script("st2-web1-mistral-db-3.0.1"), /"\$MISTRAL_DB_MANAGE" --config-file "\$MISTRAL_CONF" upgrade head/);
        assert.match(script("st2-web3-packages-3.8.1"), /yum -y --disableplugin=versionlock update "\$@"/);
        assert.match(script("st2-web1-packages-3.0.1"), /yum -y --disableplugin=versionlock update "\$@"/);
        assert.deepEqual(input("st2-web2-verify").triggers, ["3.2.0", "3.8.1", "verify"]);
        // Crossing 3.7 on EL8 (Python 3.6 -> 3.8) recreates the packs' virtualenvs; on Ubuntu 18.04 not.
        assert.match(script("st2-web3-start"), /--register-recreate-virtualenvs/);
        assert.doesNotMatch(script("st2-web2-start"), /--register-recreate-virtualenvs/);
    });

    it("keeps the SSH key out of the plan", () => {
        const key = fs.readFileSync(path.join(keyDir, "id"), "utf8");
        const body = key.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
        const text = JSON.stringify(steps);
        for (const chunk of body.match(/.{1,40}/g) ?? []) assert.ok(!text.includes(chunk));
    });
});
