// End to end: the real program, the real Pulumi engine, real lab hosts running the StackStorm double
// (lab/double) with Debian's real Mistral on PostgreSQL. Nothing is mocked here.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureToolchain } from "../../lab/support/engine";
import { fault, labDown, labUp, sshConnectionSampler, sshdSessions, sshRun, type LabHost } from "../../lab/support/lab";
import { inventory, type Inventory } from "../../lab/support/inventory";
import { assertNothingLost, assertSecondRunChangesNothing, commandLog, labConfig, programStack, show, type ProgramStack } from "../../lab/support/program";

const MINUTES = 60_000;


describe("upgrade 2.0.1 -> 3.0.1 on two Ubuntu 14.04 hosts", { timeout: 30 * MINUTES }, () => {
    let hosts: LabHost[];
    let stack: ProgramStack;
    const seeded = new Map<string, Inventory>();

    before(() => {
        ensureToolchain();
        hosts = labUp({ hosts: 2, version: "2.0.1", prefix: "e2eu" });
        for (const h of hosts) seeded.set(h.name, inventory(h));
        // Ubuntu 14.04 (the lab's default OS for 2.0.1) ends at 3.0: the longest path these hosts can
        // take in place, crossing 2.1, 2.2 (Mistral), 2.3, 2.8 and 2.9.
        stack = programStack(labConfig(hosts, { targetVersion: "3.0.1", rollout: { batchSize: 2 } }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "e2eu" });
    });

    it("runs every step and every migration, skipped versions included, in order, and loses nothing", () => {
        const r = stack.up();
        assert.equal(r.code, 0, show(r));
        for (const h of hosts) {
            assert.deepEqual(
                r.ran.filter((n) => n.startsWith(`st2-${h.name}-`)).map((n) => n.slice(`st2-${h.name}-`.length)),
                [
                    "preflight", "fetch", "backup", "stop",
                    "packages-3.0.1", "mistral-db-3.0.1", "migrate-2.1-datastore-scopes", "migrate-2.1-runners",
                    "migrate-2.3-notifier-queue", "migrate-2.8-workflow-engine-logging", "migrate-2.9-timers-engine-logging",
                    "start", "verify",
                ],
            );
            assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.0\.1, on Python/);
            // The migration scripts really ran on the host, from the 3.0.1 packages, in order.
            const scripts = commandLog(h).filter((l) => /st2-migrate-(datastore-scopes|runners)/.test(l));
            assert.equal(scripts.length, 2, scripts.join("\n"));
            assert.match(scripts[0], /st2-migrate-datastore-scopes\.py/);
            assert.match(scripts[1], /st2-migrate-runners\.sh/);
            const after = inventory(h);
            assert.equal(after.st2_version, "3.0.1");
            assert.equal(after.mistral?.alembic_revision, "030", "Mistral DB upgraded for 3.0.1");
            assertNothingLost(h, seeded.get(h.name)!, after);
        }
        // The real command provider stalls on an output line over 64 KiB: no step printed one over 4 KiB.
        const exported = stack.pulumi(["stack", "export"]);
        assert.equal(exported.code, 0, show(exported));
        const resources = (JSON.parse(exported.stdout) as { deployment: { resources?: { type: string; urn: string; outputs?: Record<string, unknown> }[] } }).deployment.resources ?? [];
        const printed = resources.filter((x) => x.type === "command:remote:Command");
        assert.ok(printed.length > 0);
        for (const x of printed) {
            for (const stream of ["stdout", "stderr"]) {
                const text = x.outputs?.[stream];
                const long = typeof text === "string" ? text.split("\n").filter((l) => Buffer.byteLength(l) > 4096) : [];
                assert.deepEqual(long.map((l) => l.length), [], `${x.urn} ${stream} has a line over 4 KiB`);
            }
        }
        const out = stack.outputs() as { hosts: { name: string; verifiedVersion: string; backupPath: string; migrations: string[] }[] };
        for (const h of hosts) {
            const report = out.hosts.find((x) => x.name === h.name)!;
            assert.equal(report.verifiedVersion, "3.0.1");
            assert.equal(sshRun(h, `sudo test -f '${report.backupPath}/SHA256SUMS' && sudo stat -c %a '${report.backupPath}'`).stdout.trim(), "700");
        }
    });

    it("changes nothing on a second up, and only reads the hosts' facts", () => {
        assertSecondRunChangesNothing(stack, hosts);
    });
});

describe("a failure mid-chain", { timeout: 30 * MINUTES }, () => {
    let host: LabHost;
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        [host] = labUp({ hosts: 1, version: "2.2.0", prefix: "e2ef" });
        stack = programStack(labConfig([host], { targetVersion: "3.0.1" }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "e2ef" });
    });

    it("fails with the host, the step and the cause, loses nothing, and the next up resumes at the failed step", () => {
        const before = inventory(host);
        sshRun(host, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/preinst-fail");
        const failed = stack.up();
        assert.notEqual(failed.code, 0, show(failed));
        const text = failed.stdout + failed.stderr;
        assert.match(text, /st2-e2ef1-packages-3\.0\.1/);
        assert.match(text, /\[st2-upgrade e2ef1\/packages-3\.0\.1\] ERROR: the package upgrade to 3\.0\.1 failed/);
        assert.deepEqual(failed.ran, ["st2-e2ef1-preflight", "st2-e2ef1-fetch", "st2-e2ef1-backup", "st2-e2ef1-stop"]);
        assertNothingLost(host, before, inventory(host));

        const resumed = stack.up();
        assert.equal(resumed.code, 0, show(resumed));
        assert.equal(resumed.ran[0], "st2-e2ef1-packages-3.0.1", `resumes at the failed step: ${resumed.ran.join(", ")}`);
        assert.ok(!resumed.ran.includes("st2-e2ef1-backup"));
        const after = inventory(host);
        assert.equal(after.st2_version, "3.0.1");
        assertNothingLost(host, before, after);
    });
});

describe("Mistral started before its database upgrade", { timeout: 30 * MINUTES }, () => {
    let host: LabHost;
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        [host] = labUp({ hosts: 1, version: "2.0.1", prefix: "e2em" });
        stack = programStack(labConfig([host], { targetVersion: "2.2.0" }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "e2em" });
    });

    it("is detected and recovered, and the upgrade finishes", () => {
        const before = inventory(host);
        // The classic story: the DB step fails once, someone restarts Mistral (2.2.0 code on a 011
        // database: its start-up creates the new tables), then the upgrade is run again.
        sshRun(host, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/migration-fail-mistral-db-manage");
        const failed = stack.up();
        assert.notEqual(failed.code, 0, show(failed));
        assert.match(failed.stdout + failed.stderr, /\[st2-upgrade e2em1\/mistral-db-2\.2\.0\] ERROR: /);
        const started = sshRun(host, "sudo service mistral start && sudo service mistral stop");
        assert.equal(started.code, 0, started.stderr);
        const early = sshRun(host, `sudo -u postgres psql -d mistral -Atc "select to_regclass('event_triggers_v2') is not null"`);
        assert.equal(early.stdout.trim(), "t", "Mistral's start-up created event_triggers_v2 ahead of the schema");

        const r = stack.up();
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout, /Mistral started before its database upgrade: tables \[[^\]]*event_triggers_v2[^\]]*\] exist ahead of revision 011/);
        const after = inventory(host);
        assert.equal(after.st2_version, "2.2.0");
        assert.equal(after.mistral?.alembic_revision, "017");
        assertNothingLost(host, before, after);
    });
});

describe("rolling four hosts in batches of two", { timeout: 30 * MINUTES }, () => {
    let hosts: LabHost[];
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        hosts = labUp({ hosts: 4, version: "3.8.1", prefix: "e2er" });
        stack = programStack(labConfig(hosts, { targetVersion: "3.9.0", rollout: { batchSize: 2 } }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "e2er" });
    });

    it("never starts batch 2 when a host of batch 1 fails", () => {
        const sessions = hosts.map(sshdSessions);
        fault(hosts[0], "sudo-password", true);
        try {
            const r = stack.up();
            assert.notEqual(r.code, 0, show(r));
            assert.match(r.stdout + r.stderr, /\[st2-upgrade e2er1\/preflight\] ERROR: passwordless sudo is required/);
            assert.equal(r.ran.filter((n) => n.startsWith("st2-e2er3-") || n.startsWith("st2-e2er4-")).length, 0, r.ran.join(", "));
            // Batch 2 was only read (its facts, before anything was planned), never logged into by a step.
            assert.deepEqual(hosts.slice(2).map(sshdSessions), sessions.slice(2).map((n) => n + 1), "only the fact read on batch 2");
            // prepareBatchBeforeStop: the healthy host of batch 1 never stopped its services either.
            assert.ok(!r.ran.includes("st2-e2er2-stop"), r.ran.join(", "));
        } finally {
            fault(hosts[0], "sudo-password", false);
        }
        // pulumi-command keeps every step's SSH connection open until `up` ends: sshd carries at most
        // one per step of the host's chain (and the fact read's, which ends before any step).
        const sampler = sshConnectionSampler(hosts);
        const r = stack.up();
        const most = sampler.stop();
        assert.equal(r.code, 0, show(r));
        for (const h of hosts) assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.9\.0/);
        const chain = (name: string) => r.events.filter((e) => e.type === "command:remote:Command" && e.name.startsWith(`st2-${name}-`)).length;
        for (const h of hosts) {
            assert.ok(most.get(h.name)! >= 1, `no SSH connection was seen on ${h.name}: the sampler saw nothing`);
            assert.ok(most.get(h.name)! <= chain(h.name) + 1, `${h.name}: ${most.get(h.name)} SSH connections open at once for ${chain(h.name)} steps`);
        }
        console.log(`most SSH connections open at once during a 4-host up: ${JSON.stringify(Object.fromEntries(most))}`);
    });
});
