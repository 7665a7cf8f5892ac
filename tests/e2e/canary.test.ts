// The canary on lab hosts: rollout.throughBatch 1 upgrades batch 1 only and leaves the other hosts
// untouched (only their read-only facts are read; no step exists for them), preview and outputs say
// which hosts are held; raised, the stack continues with the rest and runs nothing of batch 1 again.
// Four hosts 3.8.1 -> 3.9.0 in batches of one. Prefix `cn`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureToolchain } from "../../lab/support/engine";
import { labDown, labUp, sshdSessions, sshRun, type LabHost } from "../../lab/support/lab";
import { assertOnlyFactReads, commandLog, labConfig, programStack, servicePids, show, type ProgramStack } from "../../lab/support/program";

const MINUTES = 60_000;


interface Outputs {
    hosts: { name: string; batch: number; status: string; heldUntilBatch?: number; steps: unknown[]; verifiedVersion?: string }[];
    rollout: { batches: number; throughBatch: number; held: string[]; released: string[]; complete: boolean; nextThroughBatch?: number };
}

describe("canary: rollout.throughBatch on four hosts, 3.8.1 -> 3.9.0 in batches of one", { timeout: 30 * MINUTES }, () => {
    let hosts: LabHost[];
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        hosts = labUp({ hosts: 4, version: "3.8.1", prefix: "cn" });
        stack = programStack(labConfig(hosts, { targetVersion: "3.9.0", rollout: { batchSize: 1, throughBatch: 1 } }), "canary");
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "cn" });
    });

    it("throughBatch 1: upgrades batch 1 only, holds the others untouched, and says so in preview and outputs", () => {
        const held = hosts.slice(1);
        const sessions = held.map(sshdSessions);
        const logs = held.map(commandLog);
        const pids = held.map(servicePids);

        const preview = stack.pulumi(["preview", "--diff"]);
        assert.equal(preview.code, 0, show(preview));
        assert.match(preview.stdout + preview.stderr, /st2-upgrade:rollout\.throughBatch is 1: batches 2-4 held \(cn2, cn3, cn4\): no step exists for them and nothing touches them\. Set rollout\.throughBatch to 2 to continue/);
        assert.doesNotMatch(preview.stdout, /st2-cn[234]-/, "no step of a held host in the preview");

        const r = stack.up();
        assert.equal(r.code, 0, show(r));
        assert.ok(r.ran.length >= 8 && r.ran.every((n) => n.startsWith("st2-cn1-")), r.ran.join(", "));
        assert.equal(r.ran[r.ran.length - 1], "st2-cn1-verify");
        assert.match(sshRun(hosts[0], "st2 --version 2>&1").stdout, /^st2 3\.9\.0/);
        for (const [i, h] of held.entries()) {
            // Our command-log and pid-file logins, then one read-only fact read each for preview and up.
            assert.equal(sshdSessions(h), sessions[i] + 4, `${h.name}: logins`);
            assertOnlyFactReads(h, commandLog(h).slice(logs[i].length), 2);
            assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.8\.1/, `${h.name} still runs 3.8.1`);
            assert.deepEqual(servicePids(h), pids[i], `${h.name}: services neither stopped nor restarted`);
        }

        const out = stack.outputs() as unknown as Outputs;
        assert.deepEqual(out.hosts.map((h) => [h.name, h.batch, h.status, h.heldUntilBatch ?? null]), [
            ["cn1", 1, "upgraded", null],
            ["cn2", 2, "held", 2],
            ["cn3", 3, "held", 3],
            ["cn4", 4, "held", 4],
        ]);
        assert.equal(out.hosts[0].verifiedVersion, "3.9.0");
        assert.deepEqual(out.hosts[1].steps, []);
        assert.deepEqual(out.rollout, { batches: 4, throughBatch: 1, held: ["cn2", "cn3", "cn4"], batchSize: 1, released: ["cn1"], complete: false, nextThroughBatch: 2 });
    });

    it("raised to the last batch: upgrades the rest in order and runs nothing of batch 1 again", () => {
        const sessions = sshdSessions(hosts[0]);
        const log = commandLog(hosts[0]);
        const pids = servicePids(hosts[0]);
        const set = stack.pulumi(["config", "set", "--path", "st2-upgrade:rollout.throughBatch", "4", "--type", "int"]);
        assert.equal(set.code, 0, show(set));

        const r = stack.up();
        assert.equal(r.code, 0, show(r));
        assert.ok(!r.ran.some((n) => n.startsWith("st2-cn1-")), `batch 1 ran again: ${r.ran.join(", ")}`);
        const cn1 = r.events.filter((e) => e.type === "command:remote:Command" && e.name.startsWith("st2-cn1-"));
        assert.ok(cn1.length >= 8 && cn1.every((e) => e.op === "same"), JSON.stringify(cn1));
        // Batches in order: each host's verify before the next host's preflight.
        for (let i = 1; i < hosts.length - 1; i++) {
            assert.ok(r.ran.indexOf(`st2-cn${i + 1}-verify`) < r.ran.indexOf(`st2-cn${i + 2}-preflight`), r.ran.join(", "));
        }
        for (const h of hosts.slice(1)) assert.equal(r.ran.filter((n) => n.startsWith(`st2-${h.name}-`)).pop(), `st2-${h.name}-verify`);
        // The canary host: our command-log and pid-file logins and this run's fact read, nothing else.
        assert.equal(sshdSessions(hosts[0]), sessions + 3);
        assertOnlyFactReads(hosts[0], commandLog(hosts[0]).slice(log.length), 1);
        assert.deepEqual(servicePids(hosts[0]), pids, "cn1's services were left alone");
        for (const h of hosts) assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.9\.0/);

        const out = stack.outputs() as unknown as Outputs;
        assert.deepEqual(out.hosts.map((h) => [h.name, h.status, h.verifiedVersion]), hosts.map((h) => [h.name, "upgraded", "3.9.0"]));
        assert.deepEqual(out.rollout, { batches: 4, throughBatch: 4, held: [], batchSize: 1, released: ["cn1", "cn2", "cn3", "cn4"], complete: true });

        // Lowering it again cannot hold hosts this stack already upgraded: refused before any step.
        const lower = stack.pulumi(["config", "set", "--path", "st2-upgrade:rollout.throughBatch", "2", "--type", "int"]);
        assert.equal(lower.code, 0, show(lower));
        const refused = stack.pulumi(["preview"]);
        assert.notEqual(refused.code, 0, show(refused));
        assert.match(refused.stdout + refused.stderr, /rollout\.throughBatch is 2 but this stack already started upgrading cn3, cn4 \(batch up to 4\)/);
    });
});
