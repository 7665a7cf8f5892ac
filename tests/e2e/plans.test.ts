// Update plans on lab hosts (README, "Pipelines"): `pulumi preview --save-plan` then `pulumi up
// --plan` runs exactly the previewed steps, in order; a setting changed after the preview makes
// `up --plan` refuse before any step runs: the fleet component carries the settings as its inputs
// and is registered before every step (components/fleet.ts), so the engine's plan check fails there.
// Hosts are only read (the facts, read-only) by a refused run. Prefix `pl`.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureToolchain } from "../../lab/support/engine";
import { labDown, labUp, sshdSessions, sshRun, type LabHost } from "../../lab/support/lab";
import { assertOnlyFactReads, commandLog, labConfig, programStack, servicePids, show, type ProgramStack } from "../../lab/support/program";

const MINUTES = 60_000;


interface PreviewJson {
    steps?: { op: string; urn: string }[];
}

describe("update plans: preview --save-plan, up --plan (2 hosts 3.8.1 -> 3.9.0)", { timeout: 30 * MINUTES }, () => {
    let hosts: LabHost[];
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        hosts = labUp({ hosts: 2, version: "3.8.1", prefix: "pl" });
        stack = programStack(labConfig(hosts, { targetVersion: "3.9.0", rollout: { batchSize: 1 } }), "plans");
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "pl" });
    });

    /** `pulumi preview --save-plan FILE --json`: the previewed steps. */
    function previewWithPlan(file: string): PreviewJson {
        const r = stack.pulumi(["preview", "--save-plan", file, "--json"]);
        assert.equal(r.code, 0, show(r));
        assert.ok(fs.existsSync(file), `no plan written to ${file}`);
        return JSON.parse(r.stdout) as PreviewJson;
    }

    /** Up with a plan after `change`, which must be refused before any step: every host untouched. */
    function assertRefused(change: string[], expected: RegExp): void {
        const plan = path.join(stack.dir, `plan-${Date.now()}.json`);
        previewWithPlan(plan);
        const set = stack.pulumi(["config", "set", "--path", ...change]);
        assert.equal(set.code, 0, show(set));
        const sessions = hosts.map(sshdSessions);
        const logs = hosts.map(commandLog);
        const pids = hosts.map(servicePids);
        assert.ok(pids.every((p) => p.length > 0), "the double's services run");
        const r = stack.up(["--plan", plan]);
        assert.notEqual(r.code, 0, show(r));
        assert.match(r.stdout + r.stderr, expected, show(r));
        assert.deepEqual(r.ran, [], "no step ran");
        assert.deepEqual(r.events.filter((e) => e.type === "command:remote:Command"), [], "no step was even registered");
        for (const [i, h] of hosts.entries()) {
            // Our command-log and pid-file logins, then the refused run's read-only fact read: nothing else.
            assert.equal(sshdSessions(h), sessions[i] + 3, `${h.name}: logins`);
            assertOnlyFactReads(h, commandLog(h).slice(logs[i].length), 1);
            assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.8\.1/, `${h.name} still runs 3.8.1`);
            assert.deepEqual(servicePids(h), pids[i], `${h.name}: services neither stopped nor restarted`);
        }
    }

    it("refuses a plan whose settings changed after the preview (verify.smokeCommand), touching no host", () => {
        assertRefused(["st2-upgrade:verify.smokeCommand", "st2 run core.local -- uptime"], /StackStormFleet::st2 violates plan: properties changed: .*smokeCommand/);
        const back = stack.pulumi(["config", "rm", "--path", "st2-upgrade:verify"]);
        assert.equal(back.code, 0, show(back));
    });

    it("refuses a plan whose rollout changed after the preview (batchSize), touching no host", () => {
        assertRefused(["st2-upgrade:rollout.batchSize", "2", "--type", "int"], /StackStormFleet::st2 violates plan: properties changed: .*batchSize/);
        const back = stack.pulumi(["config", "set", "--path", "st2-upgrade:rollout.batchSize", "1", "--type", "int"]);
        assert.equal(back.code, 0, show(back));
    });

    it("runs exactly the previewed steps, in the previewed order, and the next plan is empty", () => {
        const plan = path.join(stack.dir, "plan.json");
        const previewed = previewWithPlan(plan);
        const creates = (previewed.steps ?? []).filter((s) => s.op === "create" && s.urn.includes("command:remote:Command")).map((s) => s.urn.split("::").pop()!);
        assert.ok(creates.length >= 16, `previewed steps: ${creates.join(", ")}`);
        const r = stack.up(["--plan", plan]);
        assert.equal(r.code, 0, show(r));
        assert.deepEqual(r.ran, creates, "the steps that ran are the previewed ones, in order");
        for (const h of hosts) {
            const own = creates.filter((n) => n.startsWith(`st2-${h.name}-`));
            assert.equal(own[0], `st2-${h.name}-preflight`);
            assert.equal(own[own.length - 1], `st2-${h.name}-verify`);
            assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.9\.0/);
        }
        // Batch 2 only after batch 1: every step of pl1 ran before the first of pl2.
        const lastOfFirst = r.ran.lastIndexOf("st2-pl1-verify");
        assert.ok(lastOfFirst >= 0 && lastOfFirst < r.ran.indexOf("st2-pl2-preflight"), r.ran.join(", "));

        // The outputs registered at the end matched the plan (the engine checks them too).
        const out = stack.outputs() as { hosts: { name: string; status: string; verifiedVersion: string }[]; rollout: { complete: boolean } };
        assert.deepEqual(out.hosts.map((h) => [h.name, h.status, h.verifiedVersion]), hosts.map((h) => [h.name, "upgraded", "3.9.0"]));
        assert.equal(out.rollout.complete, true);

        // A plan of a finished stack plans nothing, and applying it runs nothing.
        const again = path.join(stack.dir, "plan-again.json");
        const noop = previewWithPlan(again);
        assert.deepEqual((noop.steps ?? []).filter((s) => s.op !== "same"), []);
        const second = stack.up(["--plan", again]);
        assert.equal(second.code, 0, show(second));
        assert.deepEqual(second.ran, []);
    });
});
