import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { latestRelease } from "../../components/catalog";
import { inPlaceRefusal, newestInPlace, plan, plannedMigrationIds, refusedPackages, type OsRelease } from "../../components/plan";

const UBUNTU_16: OsRelease = { id: "ubuntu", versionId: "16.04" };
const UBUNTU_20: OsRelease = { id: "ubuntu", versionId: "20.04" };
const ROCKY_8: OsRelease = { id: "rocky", versionId: "8.9" };

const legsOf = (p: ReturnType<typeof plan>) => p.legs.map((l) => l.version);

describe("plan", () => {
    it("is empty when the host is already at the target", () => {
        const p = plan("3.9.0", "3.9.0");
        assert.deepEqual(p.legs, []);
        assert.deepEqual(p.reloadFlags, []);
        assert.deepEqual(plannedMigrationIds(p), []);
    });

    it("runs the migrations of skipped versions: 1.4.0 -> 2.1.1 runs 1.5 and 2.1", () => {
        const p = plan("1.4.0", "2.1.1", ["st2", "st2web", "st2mistral"]);
        assert.deepEqual(legsOf(p), ["2.1.1"]);
        assert.deepEqual(plannedMigrationIds(p), ["1.5-datastore-scope-secret", "2.1-datastore-scopes", "2.1-runners"]);
        assert.equal(p.legs[0].mistralBeforeScripts, false);
        assert.deepEqual(p.legs[0].packages, ["st2", "st2web", "st2mistral"]);
    });

    it("plans 2.2.0 -> 2.9.1 across 2.3, 2.8 and 2.9", () => {
        const p = plan("2.2.0", "2.9.1");
        assert.deepEqual(legsOf(p), ["2.9.1"]);
        assert.deepEqual(plannedMigrationIds(p), ["2.3-notifier-queue", "2.8-workflow-engine-logging", "2.9-timers-engine-logging"]);
        assert.deepEqual(p.linesCrossed, ["2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9"]);
        assert.deepEqual(p.notices.map((n) => n.id), ["2.4-st2kv-decrypt"]);
        assert.equal(p.legs[0].mistralDb, true);
    });

    it("routes 2.0.1 -> 3.9.0 through 3.0.1, the last release that ships the 2.1 scripts", () => {
        const p = plan("2.0.1", "3.9.0", ["st2", "st2web", "st2chatops", "st2mistral"]);
        assert.deepEqual(legsOf(p), ["3.0.1", "3.9.0"]);
        assert.match(p.legs[0].reason ?? "", /stepping stone: st2-migrate-datastore-scopes.py, st2-migrate-runners.sh ship only up to 3.0/);
        assert.deepEqual(p.legs[0].migrations.map((m) => m.id), [
            "2.1-datastore-scopes",
            "2.1-runners",
            "2.3-notifier-queue",
            "2.8-workflow-engine-logging",
            "2.9-timers-engine-logging",
        ]);
        assert.deepEqual(p.legs[1].migrations.map((m) => m.id), ["3.9-database-tls"]);
        // Mistral still exists at the stone, and is gone at the target.
        assert.deepEqual(p.legs[0].packages, ["st2", "st2web", "st2chatops", "st2mistral"]);
        assert.equal(p.legs[0].mistralDb, true);
        assert.deepEqual(p.legs[1].packages, ["st2", "st2web", "st2chatops"]);
        assert.equal(p.legs[1].mistralDb, false);
        assert.deepEqual(p.reloadFlags, ["--register-all", "--register-recreate-virtualenvs"]);
        assert.deepEqual(p.notices.map((n) => n.id), [
            "2.1-pack-validation",
            "2.2-mistral-executions-v2",
            "2.2-jinja-scopes",
            "2.4-st2kv-decrypt",
            "2.10-repository-keys",
            "3.0-runners-rbac",
            "3.2-orquesta-drain",
            "3.3-mistral-removed",
            "3.4-python3",
            "3.5-pack-validation",
            "3.5-nodejs-nginx-coordination",
            "3.6-sockets",
            "3.7-global-pack",
            "3.8-output-schema-rbac",
            "3.9-yaql-format-distros",
            "os-no-common-distribution",
            "os-unknown",
        ]);
    });

    it("needs no stepping stone when the target still ships the scripts", () => {
        assert.deepEqual(legsOf(plan("2.0.1", "3.0.0")), ["3.0.0"]);
        assert.deepEqual(legsOf(plan("1.6.0", "3.0.1")), ["3.0.1"]);
    });

    it("routes 1.4.0 -> 3.9.0 through 3.0.1 and runs both datastore migrations there", () => {
        const p = plan("1.4.0", "3.9.0");
        assert.deepEqual(legsOf(p), ["3.0.1", "3.9.0"]);
        assert.deepEqual(p.legs[0].migrations.map((m) => m.id).slice(0, 3), ["1.5-datastore-scope-secret", "2.1-datastore-scopes", "2.1-runners"]);
    });

    it("plans 3.3.0 -> 3.9.0 with the 3.4 virtualenv rebuild and the 3.9 config rename", () => {
        const p = plan("3.3.0", "3.9.0");
        assert.deepEqual(legsOf(p), ["3.9.0"]);
        assert.deepEqual(plannedMigrationIds(p), ["3.9-database-tls"]);
        assert.deepEqual(p.reloadFlags, ["--register-all", "--register-recreate-virtualenvs"]);
        assert.equal(p.legs[0].mistralDb, false);
    });

    it("upgrades a patch release with packages only", () => {
        const p = plan("2.10.0", "2.10.4");
        assert.deepEqual(legsOf(p), ["2.10.4"]);
        assert.deepEqual(plannedMigrationIds(p), []);
        assert.deepEqual(p.reloadFlags, ["--register-all"]);
    });

    it("leaves out migrations done by hand and says so", () => {
        const p = plan("2.2.0", "2.4.0", undefined, ["2.3-notifier-queue"]);
        assert.deepEqual(plannedMigrationIds(p), []);
        assert.deepEqual(p.skipped, ["2.3-notifier-queue"]);
    });

    it("refuses downgrades", () => {
        assert.throws(() => plan("3.9.0", "3.2.0"), {
            message: "refusing to downgrade from 3.9.0 to 3.2.0: StackStorm has no downgrade path (migrations are one-way); restore the host's backup instead",
        });
    });

    it("refuses unknown versions on either side", () => {
        assert.throws(() => plan("2.0.1", "3.9.1"), /unknown StackStorm version "3.9.1": the 3.9 line has 3.9.0/);
        assert.throws(() => plan("2.0.2", "3.9.0"), /unknown StackStorm version "2.0.2": the 2.0 line has 2.0.0, 2.0.1/);
    });

    it("refuses versions older than the first package release", () => {
        assert.throws(() => plan("1.3.2", "2.0.1"), {
            message: "cannot upgrade from 1.3.2: package upgrades are supported from 1.4.0 on; move older deployments with a content roll-over",
        });
    });

    it("refuses a path the host's OS cannot take, naming how far it can go", () => {
        assert.throws(() => plan("2.0.1", "3.9.0", undefined, [], UBUNTU_16), {
            message:
                "StackStorm 3.5 is not published for Ubuntu 16.04 (3.5 supports Ubuntu 18.04, Ubuntu 20.04, RHEL/CentOS/Rocky 7, RHEL/CentOS/Rocky 8), " +
                "so 2.0.1 -> 3.9.0 is impossible in place; the newest release Ubuntu 16.04 can reach in place from 2.0.1 is 3.4.1",
        });
        // The stepping stone (3.0.1) and every line crossed run on Ubuntu 16.04 up to 3.4.
        assert.deepEqual(legsOf(plan("2.0.1", "3.4.1", undefined, [], UBUNTU_16)), ["3.0.1", "3.4.1"]);
        // Stones must respect the OS too: 1.6 on Ubuntu 14.04 cannot pass 3.1 (no 14.04 packages).
        assert.throws(() => plan("1.6.0", "3.2.0", undefined, [], { id: "ubuntu", versionId: "14.04" }), /StackStorm 3.1 is not published for Ubuntu 14.04/);
        assert.equal(newestInPlace(UBUNTU_16, "2.0.1"), "3.4.1");
    });

    it("warns, when the OS is unknown, that no distribution runs every line crossed", () => {
        assert.match(
            plan("2.0.1", "3.9.0").notices.find((n) => n.id === "os-no-common-distribution")?.why ?? "",
            /^no distribution has StackStorm packages for every line from 2.0 to 3.9: a real host cannot take 2.0.1 -> 3.9.0 in place/,
        );
        // RHEL/CentOS 7 has packages from 2.0 to 3.8.
        assert.ok(!plan("2.0.1", "3.8.1").notices.some((n) => n.id === "os-no-common-distribution"));
        assert.ok(!plan("2.0.1", "3.8.1", undefined, [], { id: "centos", versionId: "7.9.2009" }).notices.some((n) => n.id.startsWith("os-")));
    });

    it("explains an in-place refusal to the operator with both ways forward", () => {
        const host = { name: "web1", address: "10.0.0.5" };
        assert.equal(inPlaceRefusal(host, ROCKY_8, "3.2.0", latestRelease()), undefined);
        assert.equal(
            inPlaceRefusal(host, UBUNTU_16, "3.0.1", "3.9.0"),
            [
                "host web1 (10.0.0.5) runs Ubuntu 16.04: StackStorm 3.5 is not published for Ubuntu 16.04 (3.5 supports Ubuntu 18.04, Ubuntu 20.04, RHEL/CentOS/Rocky 7, RHEL/CentOS/Rocky 8), " +
                    "so 3.0.1 -> 3.9.0 is impossible in place; the newest release Ubuntu 16.04 can reach in place from 3.0.1 is 3.4.1.",
                "Ways forward:",
                "  1. upgrade the OS first, to one that StackStorm 3.9.0 supports (Ubuntu 20.04, Ubuntu 22.04, RHEL/CentOS/Rocky 8, RHEL/CentOS/Rocky 9), then run pulumi up again; or set its target to 3.4.1 for now;",
                "  2. roll over to a new instance running 3.9.0 (docs/rollover.md), with this stack configuration:",
                "       st2-upgrade:rollover:",
                '         oldHost: { name: web1, address: 10.0.0.5, user: stackstorm, version: "3.0.1" }',
                '         newHost: { name: web1-new, address: <new instance>, user: stackstorm, version: "3.9.0", st2: { username: st2admin } }',
                "     and remove web1 from st2-upgrade:hosts.",
            ].join("\n"),
        );
        assert.match(inPlaceRefusal(host, { id: "debian", versionId: "12" }, "3.8.1", "3.9.0") ?? "", /Debian 12 cannot take any newer release line in place from 3.8.1/i);
    });

    it("recreates virtualenvs crossing 3.7 on EL8 only (Python 3.6 -> 3.8), and says so when the OS is unknown", () => {
        const el8 = plan("3.6.0", "3.8.1", undefined, [], ROCKY_8);
        assert.deepEqual(el8.reloadFlags, ["--register-all", "--register-recreate-virtualenvs"]);
        assert.ok(!el8.notices.some((n) => n.id === "os-unknown"));
        assert.deepEqual(plan("3.6.0", "3.8.1", undefined, [], { id: "rhel", versionId: "8.10" }).reloadFlags, ["--register-all", "--register-recreate-virtualenvs"]);
        assert.deepEqual(plan("3.6.0", "3.8.1", undefined, [], UBUNTU_20).reloadFlags, ["--register-all"]);
        const unknown = plan("3.6.0", "3.8.1");
        assert.deepEqual(unknown.reloadFlags, ["--register-all", "--register-recreate-virtualenvs"]);
        assert.match(unknown.notices.find((n) => n.id === "os-unknown")?.why ?? "", /distribution is unknown.*--register-recreate-virtualenvs.*3\.7, RHEL\/CentOS\/Rocky 8 only/);
        // 3.4 moved Ubuntu 16.04 and EL7 to Python 3.
        assert.deepEqual(plan("3.3.0", "3.4.1", undefined, [], { id: "centos", versionId: "7" }).reloadFlags, ["--register-all", "--register-recreate-virtualenvs"]);
        assert.deepEqual(plan("3.3.0", "3.4.1", undefined, [], { id: "ubuntu", versionId: "18.04" }).reloadFlags, ["--register-all"]);
    });

    it("upgrades bwc-enterprise's sub-packages with it, and refuses it past 3.2 even when packages are not given", () => {
        const p = plan("3.0.1", "3.2.0", ["st2", "st2web", "bwc-enterprise"]);
        assert.deepEqual(p.legs[0].packages, ["st2", "st2web", "bwc-enterprise", "st2flow", "bwc-ui", "st2-auth-ldap", "st2-rbac-backend"]);
        assert.deepEqual(plan("2.5.0", "2.10.4", ["st2", "bwc-enterprise"]).legs[0].packages, ["st2", "bwc-enterprise", "st2flow", "bwc-ui", "st2-auth-ldap"]);
        assert.deepEqual(plan("3.0.1", "3.2.0", ["st2", "st2web"]).legs[0].packages, ["st2", "st2web"]);
        // Without hosts[].packages the plan cannot know: preflight checks the host for these.
        assert.deepEqual(refusedPackages("3.0.1", "3.9.0").map((r) => r.pkg), ["bwc-enterprise"]);
        assert.deepEqual(refusedPackages("1.6.0", "2.0.1").map((r) => r.pkg), ["st2enterprise"]);
        assert.deepEqual(refusedPackages("3.0.1", "3.2.0"), []);
    });

    it("refuses package changes the runbook leaves to a human", () => {
        assert.throws(() => plan("1.6.0", "2.0.1", ["st2", "st2enterprise"]), /st2enterprise installed: 2.0 renamed it bwc-enterprise/);
        assert.throws(() => plan("3.2.0", "3.3.0", ["st2", "bwc-enterprise"]), /bwc-enterprise installed: the enterprise edition ends with 3.2/);
        assert.deepEqual(legsOf(plan("3.0.1", "3.2.0", ["st2", "bwc-enterprise"])), ["3.2.0"]);
    });
});
