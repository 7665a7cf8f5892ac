// Host facts end to end: the real program reads each lab host once per run, read-only, over SSH,
// before planning. An OS that cannot take the target is refused in preview, touching nothing; an
// unreachable host stops the preview, named; after a facts-driven upgrade the next preview and up
// change nothing and the only SSH login per host and run is the fact read.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureToolchain } from "../../lab/support/engine";
import { labDown, labUp, sshdSessions, sshRun, withFault, type LabHost } from "../../lab/support/lab";
import { assertOnlyFactReads, assertSecondRunChangesNothing, commandLog, labConfig, programStack, show, type ProgramStack } from "../../lab/support/program";

const MINUTES = 60_000;


/** Hosts without `currentVersion`: the plan comes from the facts alone. */
function factsConfig(hosts: readonly LabHost[], settings: Record<string, unknown>): Record<string, unknown> {
    const config = labConfig(hosts, settings);
    return { ...config, hosts: (config.hosts as Record<string, unknown>[]).map(({ currentVersion: _drop, ...h }) => h) };
}


describe("a host whose OS cannot take the target in place", { timeout: 20 * MINUTES }, () => {
    let host: LabHost;
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        [host] = labUp({ hosts: 1, version: "2.2.0", prefix: "fu", os: "ubuntu:16.04" });
        stack = programStack(factsConfig([host], { targetVersion: "3.9.0" }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "fu" });
    });

    it("is refused in preview with the way forward, with no resource and nothing run on the host", () => {
        const sessions = sshdSessions(host);
        const log = commandLog(host);
        const r = stack.pulumi(["preview", "--diff"]);
        assert.notEqual(r.code, 0, show(r));
        const text = r.stdout + r.stderr;
        assert.match(text, new RegExp(`host fu1 \\(${host.address.replace(/\./g, "\\.")}\\) runs Ubuntu 16\\.04: StackStorm 3\\.5 is not published for Ubuntu 16\\.04`), show(r));
        assert.match(text, /2\.2\.0 -> 3\.9\.0 is impossible in place; the newest release Ubuntu 16\.04 can reach in place from 2\.2\.0 is 3\.4\.1/);
        assert.match(text, /upgrade the OS first/);
        assert.match(text, /roll over to a new instance running 3\.9\.0 \(docs\/rollover\.md\)/);
        assert.match(text, /st2-upgrade:rollover:\s+oldHost: \{ name: fu1/);
        assert.doesNotMatch(text, /command:remote:Command/, "no step was planned");
        // One login: the fact read (then ours, for the command log).
        assert.equal(sshdSessions(host), sessions + 2);
        assertOnlyFactReads(host, commandLog(host).slice(log.length), 1);
    });

    it("plans the upgrade as far as the OS allows (3.4.1)", () => {
        const ok = programStack(factsConfig([host], { targetVersion: "3.4.1" }), "e2e-341");
        try {
            const r = ok.pulumi(["preview"]);
            assert.equal(r.code, 0, show(r));
            assert.match(r.stdout, /st2-fu1-packages-3\.4\.1/);
        } finally {
            ok.cleanup();
        }
    });
});

describe("facts-driven upgrade, then nothing", { timeout: 40 * MINUTES }, () => {
    let hosts: LabHost[];
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        hosts = labUp({ hosts: 2, version: "2.0.1", prefix: "fi" });
        stack = programStack(factsConfig(hosts, { targetVersion: "2.2.0", rollout: { batchSize: 2 }, ssh: { dialAttempts: 1, dialTimeoutSeconds: 3 } }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "fi" });
    });

    it("stops the preview naming an unreachable host, what failed and what to check", () => {
        const r = withFault(hosts[0], "unreachable", () => stack.pulumi(["preview"]));
        assert.notEqual(r.code, 0, show(r));
        const addr = hosts[0].address.replace(/\./g, "\\.");
        assert.match(r.stdout + r.stderr, new RegExp(`host fi1 \\(st2admin@${addr}:22, hosts\\[0\\]\\): unreachable: ssh failed after 1 attempt\\(s\\) of 3 s`), show(r));
        assert.match(r.stdout + r.stderr, new RegExp(`Check that ${addr} is reachable from this machine, that sshd listens on port 22`));
        assert.doesNotMatch(r.stdout + r.stderr, /host fi2 /, "the reachable host is not blamed");
    });

    it("upgrades from what the hosts run, reports the facts, and the next preview and up change nothing", () => {
        const first = stack.up();
        assert.equal(first.code, 0, show(first));
        for (const h of hosts) {
            const ran = first.ran.filter((n) => n.startsWith(`st2-${h.name}-`));
            assert.equal(ran[0], `st2-${h.name}-preflight`);
            assert.equal(ran[ran.length - 1], `st2-${h.name}-verify`);
            assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 2\.2\.0/);
        }
        type Report = {
            name: string;
            fromVersion: string;
            facts: { packages: Record<string, string>; os: { id: string; versionId: string }; st2Version: string; mistral: { dbRevision: string | null } };
        };
        const before = (stack.outputs() as { hosts: Report[] }).hosts;
        for (const r of before) {
            assert.equal(r.fromVersion, "2.0.1");
            assert.match(r.facts.packages.st2, /^2\.0\.1-/, "facts were read before the upgrade");
            assert.deepEqual(r.facts.os, { id: "ubuntu", versionId: "14.04" }, "the lab says 2.0.1 hosts run Ubuntu 14.04");
            assert.match(r.facts.st2Version, /^st2 2\.0\.1/);
        }

        // Per host: our command-log login, then one fact read for the preview and one for the up.
        const preview = assertSecondRunChangesNothing(stack, hosts);
        assert.doesNotMatch(preview.stdout, /\bdelete\b|- command:remote:Command/, show(preview));
        const now = (stack.outputs() as { hosts: Report[] }).hosts;
        for (const r of now) {
            assert.equal(r.fromVersion, "2.0.1", "the plan keeps the start of the recorded upgrade");
            assert.match(r.facts.packages.st2, /^2\.2\.0-/, "the facts say what the host runs now");
            // The Mistral database's revision, as the host's own PostgreSQL gives it.
            const host = hosts.find((h) => h.name === r.name)!;
            const revision = sshRun(host, `sudo -u postgres psql -X -A -t -d mistral -c 'SELECT version_num FROM alembic_version'`);
            assert.equal(revision.code, 0, revision.stderr);
            assert.match(revision.stdout.trim(), /^\w+$/);
            assert.equal(r.facts.mistral.dbRevision, revision.stdout.trim());
        }
    });
});

// On Ubuntu 14.04, 2.0.1 can go no further than 3.0.1, so no apt path has a stepping stone (a yum
// host on EL7 would: 2.0.1 -> 3.8.1 through 3.0.1; unit tests cover planFrom there). The same rule is
// proven here where it bites hardest: the failed run leaves the host at its target already.
describe("a run that failed after the packages were upgraded", { timeout: 40 * MINUTES }, () => {
    let host: LabHost;
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        [host] = labUp({ hosts: 1, version: "2.0.1", prefix: "fr" });
        stack = programStack(factsConfig([host], { targetVersion: "3.0.1" }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "fr" });
    });

    it("resumes at the failed step although the host now runs the target, skipping no migration", () => {
        // The Mistral DB upgrade after the 3.0.1 packages fails once: the host is left running 3.0.1.
        sshRun(host, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/migration-fail-mistral-db-manage");
        const failed = stack.up();
        assert.notEqual(failed.code, 0, show(failed));
        assert.ok(failed.ran.includes("st2-fr1-packages-3.0.1"), failed.ran.join(", "));
        assert.match(sshRun(host, "st2 --version 2>&1").stdout, /^st2 3\.0\.1/);

        // Facts alone would plan nothing (the host runs 3.0.1), delete every step and lose the 2.x
        // migrations; the recorded start keeps the chain.
        const preview = stack.pulumi(["preview", "--diff"]);
        assert.equal(preview.code, 0, show(preview));
        assert.doesNotMatch(preview.stdout, /\bdelete\b|- command:remote:Command/, show(preview));
        const resumed = stack.up();
        assert.equal(resumed.code, 0, show(resumed));
        assert.equal(resumed.ran[0], "st2-fr1-mistral-db-3.0.1", resumed.ran.join(", "));
        assert.ok(resumed.ran.includes("st2-fr1-migrate-2.1-datastore-scopes"), resumed.ran.join(", "));
        assert.ok(!resumed.ran.includes("st2-fr1-packages-3.0.1"), resumed.ran.join(", "));
        assert.match(sshRun(host, "st2 --version 2>&1").stdout, /^st2 3\.0\.1/);
        const again = stack.pulumi(["preview", "--expect-no-changes"]);
        assert.equal(again.code, 0, show(again));
    });
});
