import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as semver from "semver";
import {
    catalogProblems,
    executableMigrationIds,
    keyListCalls,
    knownReleases,
    latestRelease,
    linesCrossed,
    newestInPlace,
    oldestRelease,
    osKey,
    releaseLine,
    scriptArgs,
    type ScriptMigration,
} from "../../components/catalog";
import { RELEASE_LINES } from "../../components/catalog/releases";
import { freshInstallUbuntu } from "../../components/catalog/rollover";

describe("catalog", () => {
    it("is consistent: versions valid, ordered, under their line; migration ids unique", () => {
        assert.deepEqual(catalogProblems(), []);
    });

    it("spans 1.4 to the newest release, whatever it is", () => {
        assert.equal(oldestRelease(), "1.4.0");
        const all = knownReleases();
        assert.equal(latestRelease(), all[all.length - 1]);
        assert.ok(all.every((v) => semver.lte(v, latestRelease())), "the newest release is listed last");
        const lines = new Set(knownReleases().map((v) => v.split(".").slice(0, 2).join(".")));
        for (const line of ["1.4", "1.5", "1.6", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "3.0", "3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7", "3.8", "3.9"]) {
            assert.ok(lines.has(line), `line ${line} missing`);
        }
    });

    it("gives each era its package set", () => {
        assert.deepEqual([...releaseLine("1.4.0").packages], ["st2", "st2web", "st2chatops", "st2mistral", "st2enterprise"]);
        assert.deepEqual([...releaseLine("1.6.0").packages], ["st2", "st2web", "st2chatops", "st2mistral", "st2enterprise"]);
        // Enterprise sub-packages ride with bwc-enterprise; st2-rbac-backend from 3.0.0 (st2cd st2_upgrade_to_enterprise.sh).
        for (const v of ["2.0.1", "2.10.4"]) {
            assert.deepEqual([...releaseLine(v).packages], ["st2", "st2web", "st2chatops", "st2mistral", "bwc-enterprise", "st2flow", "bwc-ui", "st2-auth-ldap"], v);
        }
        for (const v of ["3.0.1", "3.2.0"]) {
            assert.deepEqual([...releaseLine(v).packages], ["st2", "st2web", "st2chatops", "st2mistral", "bwc-enterprise", "st2flow", "bwc-ui", "st2-auth-ldap", "st2-rbac-backend"], v);
        }
        for (const v of ["3.3.0", "3.4.1", "3.9.0"]) {
            assert.deepEqual([...releaseLine(v).packages], ["st2", "st2web", "st2chatops"], v);
        }
    });

    it("orders Mistral before the scripts from 2.2 on, as the runbook does", () => {
        assert.equal(releaseLine("2.1.1").mistralBeforeScripts, false);
        assert.equal(releaseLine("2.2.0").mistralBeforeScripts, true);
    });

    it("lists the releases st2 tagged: 2.9.2 and 2.9.3 exist, 3.7.1 does not", () => {
        assert.deepEqual([...releaseLine("2.9.3").releases], ["2.9.0", "2.9.1", "2.9.2", "2.9.3"]);
        assert.deepEqual([...releaseLine("3.7.0").releases], ["3.7.0"]);
        assert.throws(() => releaseLine("3.7.1"), /unknown StackStorm version "3.7.1": the 3.7 line has 3.7.0\./);
    });

    it("cites a source for every line's releases, packages and distributions, every reload flag and migration", () => {
        for (const line of RELEASE_LINES) {
            for (const what of ["releases", "packages", "os"] as const) {
                assert.match(line.sources[what], /^StackStorm\/(st2|st2docs|st2-packages|st2cd)@[\w.]+:\S+/, `${line.line} ${what}`);
            }
            for (const m of line.migrations ?? []) assert.ok(m.source, `${m.id} has a source`);
            for (const f of line.reloadFlags ?? []) assert.ok(f.source, `${line.line} ${f.flag} has a source`);
        }
        assert.deepEqual(catalogProblems(), []);
    });

    it("gives each line the distributions of its install docs", () => {
        assert.deepEqual([...releaseLine("2.0.1").os], ["ubuntu-14.04", "el6", "el7"]);
        assert.deepEqual([...releaseLine("3.0.1").os], ["ubuntu-14.04", "ubuntu-16.04", "el6", "el7"]);
        assert.deepEqual([...releaseLine("3.2.0").os], ["ubuntu-16.04", "ubuntu-18.04", "el6", "el7", "el8"]);
        assert.deepEqual([...releaseLine("3.4.1").os], ["ubuntu-16.04", "ubuntu-18.04", "el7", "el8"]);
        assert.deepEqual([...releaseLine("3.8.1").os], ["ubuntu-18.04", "ubuntu-20.04", "el7", "el8"]);
        assert.deepEqual([...releaseLine("3.9.0").os], ["ubuntu-20.04", "ubuntu-22.04", "el8", "el9"]);
        // No distribution takes both 3.0 and 3.9: the README's old 2.0.1 -> 3.9.0 is impossible in place.
        assert.deepEqual(releaseLine("3.0.1").os.filter((o) => releaseLine("3.9.0").os.includes(o)), []);
    });

    it("runs a fresh roll-over instance on the newest Ubuntu of the target's line", () => {
        assert.deepEqual(freshInstallUbuntu("2.1.0"), { codename: "xenial", version: "16.04" });
        assert.deepEqual(freshInstallUbuntu("3.0.1"), { codename: "xenial", version: "16.04" });
        assert.deepEqual(freshInstallUbuntu("3.1.0"), { codename: "bionic", version: "18.04" });
        assert.deepEqual(freshInstallUbuntu("3.5.0"), { codename: "focal", version: "20.04" });
        assert.deepEqual(freshInstallUbuntu("3.9.0"), { codename: "jammy", version: "22.04" });
        assert.throws(() => freshInstallUbuntu("2.0.1"), /cannot be the target of a roll-over: fresh instances are made from 2.1.0 on/);
    });

    it("says in its notices what the docs say (verified against st2docs v3.9 upgrade notes)", () => {
        const why = (id: string) => RELEASE_LINES.flatMap((l) => l.migrations ?? []).find((m) => m.id === id)?.why ?? "";
        assert.match(why("2.4-st2kv-decrypt"), /st2kv\('key', decrypt=true\)/);
        assert.doesNotMatch(why("2.4-st2kv-decrypt"), /decrypt_kv/);
        assert.match(why("2.1-pack-validation"), /`st2ctl reload` reports it/);
        assert.match(why("3.3-mistral-removed"), /convert every Mistral workflow to Orquesta BEFORE upgrading/);
        assert.match(why("3.3-mistral-removed"), /st2.action.file_writen is renamed st2.action.file_written/);
        assert.match(why("3.5-nodejs-nginx-coordination"), /Node.js 14.*TLSv1.2\/1.3.*redis:\/\/127.0.0.1:6379.*--force-confold/);
        assert.match(why("3.6-sockets"), /listen where st2.conf says/);
        assert.match(why("3.7-global-pack"), /rename a pack called _global BEFORE upgrading/);
    });

    it("normalises os-release: Ubuntu by VERSION_ID, the RHEL family by major version", () => {
        assert.equal(osKey({ id: "ubuntu", versionId: "16.04" }), "ubuntu-16.04");
        for (const id of ["rhel", "centos", "rocky", "almalinux", "Rocky"]) assert.equal(osKey({ id, versionId: "8.9" }), "el8", id);
        assert.equal(osKey({ id: "centos", versionId: "7" }), "el7");
        assert.equal(osKey({ id: "debian", versionId: "12" }), undefined);
        assert.equal(osKey({ id: "ubuntu", versionId: "" }), undefined);
    });

    it("finds the newest release an OS reaches in place", () => {
        assert.equal(newestInPlace({ id: "ubuntu", versionId: "14.04" }, "2.0.1"), "3.0.1");
        assert.equal(newestInPlace({ id: "ubuntu", versionId: "16.04" }, "2.2.0"), "3.4.1");
        assert.equal(newestInPlace({ id: "centos", versionId: "7.9" }, "3.4.1"), "3.8.1");
        assert.equal(newestInPlace({ id: "rocky", versionId: "8.9" }, "3.2.0"), latestRelease());
        assert.equal(newestInPlace({ id: "centos", versionId: "6.10" }, "2.5.0"), "3.2.0");
        // A distribution StackStorm never published for reaches only patch releases of its own line.
        assert.equal(newestInPlace({ id: "debian", versionId: "12" }, "3.8.0"), "3.8.1");
        assert.equal(newestInPlace({ id: "ubuntu", versionId: "16.04" }, "3.7.1"), undefined);
    });

    it("passes --config-file to oslo.config scripts where st2 does not read st2.conf by default (before 2.8)", () => {
        const [scopes, runners] = releaseLine("2.1.1").migrations!.filter((m): m is ScriptMigration => m.kind === "script");
        assert.deepEqual(scriptArgs(scopes, "2.1.1"), ["--config-file", "/etc/st2/st2.conf"]);
        assert.deepEqual(scriptArgs(scopes, "2.7.2"), ["--config-file", "/etc/st2/st2.conf"]);
        assert.deepEqual(scriptArgs(scopes, "2.8.0"), []);
        assert.deepEqual(scriptArgs(scopes, "3.0.1"), []);
        // A shell script calling st2ctl, which passes the config itself.
        assert.deepEqual(scriptArgs(runners, "2.1.1"), []);
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
