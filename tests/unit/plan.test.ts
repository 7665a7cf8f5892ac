import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { plan, plannedMigrationIds } from "../../components/plan";

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
            "2.2-mistral-executions-v2",
            "2.4-st2kv-decrypt",
            "2.10-repository-keys",
            "3.0-runners-rbac",
            "3.2-orquesta-drain",
            "3.3-mistral-removed",
            "3.5-pack-validation",
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

    it("refuses package changes the runbook leaves to a human", () => {
        assert.throws(() => plan("1.6.0", "2.0.1", ["st2", "st2enterprise"]), /st2enterprise installed: 2.0 renamed it bwc-enterprise/);
        assert.throws(() => plan("3.2.0", "3.3.0", ["st2", "bwc-enterprise"]), /bwc-enterprise installed: the enterprise edition ends with 3.2/);
        assert.deepEqual(legsOf(plan("3.0.1", "3.2.0", ["st2", "bwc-enterprise"])), ["3.2.0"]);
    });
});
