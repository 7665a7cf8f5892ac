import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
    catalogProblems,
    executableMigrationIds,
    keyListCalls,
    knownReleases,
    latestRelease,
    linesCrossed,
    oldestRelease,
    releaseLine,
} from "../../components/catalog";

describe("catalog", () => {
    it("is consistent: versions valid, ordered, under their line; migration ids unique", () => {
        assert.deepEqual(catalogProblems(), []);
    });

    it("spans 1.4 to the newest 3.x release", () => {
        assert.equal(oldestRelease(), "1.4.0");
        assert.equal(latestRelease(), "3.9.0");
        const lines = new Set(knownReleases().map((v) => v.split(".").slice(0, 2).join(".")));
        for (const line of ["1.4", "1.5", "1.6", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9"]) {
            assert.ok(lines.has(line), `line ${line} missing`);
        }
    });

    it("gives each era its package set", () => {
        assert.deepEqual([...releaseLine("1.4.0").packages], ["st2", "st2web", "st2chatops", "st2mistral", "st2enterprise"]);
        assert.deepEqual([...releaseLine("1.6.0").packages], ["st2", "st2web", "st2chatops", "st2mistral", "st2enterprise"]);
        for (const v of ["2.0.1", "2.10.4", "3.0.1", "3.2.0"]) {
            assert.deepEqual([...releaseLine(v).packages], ["st2", "st2web", "st2chatops", "st2mistral", "bwc-enterprise"], v);
        }
        for (const v of ["3.3.0", "3.4.1", "3.9.0"]) {
            assert.deepEqual([...releaseLine(v).packages], ["st2", "st2web", "st2chatops"], v);
        }
    });

    it("orders Mistral before the scripts from 2.2 on, as the runbook does", () => {
        assert.equal(releaseLine("2.1.1").mistralBeforeScripts, false);
        assert.equal(releaseLine("2.2.0").mistralBeforeScripts, true);
    });

    it("rejects unknown releases with the line's known releases", () => {
        assert.throws(() => releaseLine("2.3.5"), {
            message: 'unknown StackStorm version "2.3.5": the 2.3 line has 2.3.0, 2.3.1, 2.3.2. A new release needs an entry in components/catalog/releases.ts.',
        });
        assert.throws(() => releaseLine("4.0.0"), /unknown StackStorm version "4.0.0": known lines: 1.4, 1.5/);
        assert.throws(() => releaseLine("three"), { message: '"three" is not a version: expected MAJOR.MINOR.PATCH, for example "3.9.0"' });
    });

    it("counts every line crossed, skipped ones included, and none for a patch upgrade", () => {
        assert.deepEqual(linesCrossed("2.0.1", "2.4.1").map((l) => l.line), ["2.1", "2.2", "2.3", "2.4"]);
        assert.deepEqual(linesCrossed("2.9.0", "3.0.0").map((l) => l.line), ["2.10", "3.0"]);
        assert.deepEqual(linesCrossed("2.10.0", "2.10.4"), []);
    });

    it("lists every key with the flags of each era (scopes from 1.5, `all` from 2.1, paging from 2.4)", () => {
        assert.deepEqual(keyListCalls("1.4.0"), [[]]);
        assert.deepEqual(keyListCalls("2.0.1"), [["--scope", "system"], ["--scope", "user"]]);
        assert.deepEqual(keyListCalls("2.2.0"), [["--scope", "all"]]);
        assert.deepEqual(keyListCalls("2.4.0"), [["--scope", "all", "-n", "-1"]]);
        assert.deepEqual(keyListCalls("3.9.0"), [["--scope", "all", "-n", "-1"]]);
    });

    it("knows the executable migrations by id", () => {
        assert.deepEqual(executableMigrationIds(), [
            "1.5-datastore-scope-secret",
            "2.1-datastore-scopes",
            "2.1-runners",
            "2.3-notifier-queue",
            "2.8-workflow-engine-logging",
            "2.9-timers-engine-logging",
            "3.9-database-tls",
        ]);
    });
});
