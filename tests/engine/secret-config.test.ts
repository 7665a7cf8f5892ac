// The README's route for the SSH key, through the real engine: `pulumi config set --secret
// st2-upgrade:sshPrivateKey < key`, then a preview of the real program. The key stays encrypted in
// the stack file and out of the plan; a misspelt key of the namespace stops the preview before any
// resource, naming the key it resembles.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { fakeFacts, useFactsFile } from "../../lab/support/facts";
import { ensureToolchain } from "../../lab/support/engine";
import { programStack, show, type ProgramStack } from "../../lab/support/program";

describe("the SSH key set with `pulumi config set --secret`", { timeout: 20 * 60_000 }, () => {
    let stack: ProgramStack;
    let keyDir: string;
    let key: string;

    before(() => {
        ensureToolchain();
        keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "st2-secret-key-"));
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(keyDir, "id")]);
        key = fs.readFileSync(path.join(keyDir, "id"), "utf8");
        stack = programStack({ targetVersion: "3.9.0", hosts: [{ name: "h1", address: "192.0.2.21", user: "st2", currentVersion: "3.8.1" }] }, "secret");
        // The host does not exist: its facts come from a file, as a review without the hosts has them.
        useFactsFile(keyDir, stack.env, { h1: fakeFacts("3.8.1") });
        const set = stack.pulumi(["config", "set", "--secret", "st2-upgrade:sshPrivateKey"], key);
        assert.equal(set.code, 0, show(set));
    });
    after(() => {
        stack?.cleanup();
        fs.rmSync(keyDir, { recursive: true, force: true });
    });

    it("is stored encrypted and previews the host's chain without the key in the plan", () => {
        const yaml = fs.readFileSync(path.join(stack.dir, "Pulumi.secret.yaml"), "utf8");
        assert.match(yaml, /st2-upgrade:sshPrivateKey:\s*\n\s*secure: /);
        assert.ok(!yaml.includes("PRIVATE KEY"), yaml);
        const r = stack.pulumi(["preview", "--json"]);
        assert.equal(r.code, 0, show(r));
        const steps = (JSON.parse(r.stdout) as { steps: { urn: string; newState?: { type: string } }[] }).steps;
        const commands = steps.filter((s) => s.newState?.type === "command:remote:Command").map((s) => s.urn.split("::").pop());
        assert.deepEqual(commands, ["st2-h1-preflight", "st2-h1-fetch", "st2-h1-backup", "st2-h1-stop", "st2-h1-packages-3.9.0", "st2-h1-migrate-3.9-database-tls", "st2-h1-start", "st2-h1-verify"]);
        const body = key.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
        for (const chunk of body.match(/.{1,40}/g) ?? []) assert.ok(!r.stdout.includes(chunk), "a piece of the key is in the plan");
        assert.doesNotMatch(r.stderr, /value is a secret/);
    });

    it("refuses a misspelt key of the namespace before any resource", () => {
        const set = stack.pulumi(["config", "set", "st2-upgrade:rolout", '{"batchSize":2}']);
        assert.equal(set.code, 0, show(set));
        const r = stack.pulumi(["preview", "--json"]);
        assert.notEqual(r.code, 0, show(r));
        assert.match(r.stdout + r.stderr, /st2-upgrade:rolout is not a known setting: did you mean st2-upgrade:rollout\?/);
        assert.doesNotMatch(r.stdout, /command:remote:Command/);
    });
});
