/**
 * The datastore conversion of a content roll-over: every era pair, secrets, users' keys, TTLs, bad
 * input with its exact message, and the CLI that runs it in a pipe.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as semver from "semver";
import { datastoreEra, DATASTORE_ERAS, firstReleaseLoadingScopes, keyExportListings, keyLoadCarriesScopeAndSecret } from "../../components/catalog/datastore";
import { packEra } from "../../components/catalog/rollover";
import { runCli } from "../../components/rollover/convert-cli";
import {
    checkConversion,
    compareSummaries,
    convertExport,
    convertItems,
    DatastoreError,
    parseExport,
    summarizeExport,
    type LoadItem,
} from "../../components/rollover/datastore";

const NOW = new Date("2024-01-01T00:00:00Z");
const CLI = path.resolve(__dirname, "../../components/rollover/convert-cli.js");

function convert(items: unknown[], from: string, to: string): LoadItem[] {
    return JSON.parse(convertExport(JSON.stringify(items), from, to, NOW).loadFile) as LoadItem[];
}

function rejects(fn: () => unknown, message: string): void {
    assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof DatastoreError, `expected DatastoreError, got ${String(e)}`);
        assert.equal(e.message, message);
        return true;
    });
}

describe("datastore catalog", () => {
    it("lists every key of every era: scopes one by one before 2.1, all from 2.1, -n -1 from 2.4 (st2 #3708)", () => {
        assert.deepEqual(keyExportListings("1.4.0", true), [[]]);
        assert.deepEqual(keyExportListings("2.0.1", true), [["--scope", "system", "--decrypt"], ["--scope", "user", "--decrypt"]]);
        assert.deepEqual(keyExportListings("2.2.0", true), [["--scope", "all", "--decrypt"]]);
        assert.deepEqual(keyExportListings("2.4.0", false), [["--scope", "all", "-n", "-1"]]);
        assert.deepEqual(keyExportListings("3.9.0", true), [["--scope", "all", "-n", "-1", "--decrypt"]]);
    });

    it("knows which st2 key load keeps scope, user and secret", () => {
        assert.equal(keyLoadCarriesScopeAndSecret("2.5.1"), false);
        assert.equal(keyLoadCarriesScopeAndSecret("2.6.0"), true);
        assert.equal(firstReleaseLoadingScopes(), "2.6.0");
        assert.deepEqual(datastoreEra("3.0.1").decryptFlags, ["--decrypt", "-d"]);
        assert.ok(datastoreEra("3.0.1").loadFields.includes("encrypted"));
        assert.equal(datastoreEra("1.4.0").scopes, undefined);
        assert.deepEqual(datastoreEra("2.0.1").scopes, { system: "system", user: "user" });
        assert.deepEqual(datastoreEra("2.1.0").scopes, { system: "st2kv.system", user: "st2kv.user" });
        for (let i = 1; i < DATASTORE_ERAS.length; i++) assert.ok(semver.gt(DATASTORE_ERAS[i].since, DATASTORE_ERAS[i - 1].since), "eras oldest first");
        assert.throws(() => datastoreEra("1.3.0"), /oldest: 1\.4\.0/);
    });

    it("installs packs with packs.install in 2.x and st2 pack install from 3.0", () => {
        const { source, ...era } = packEra("2.0.1");
        assert.deepEqual(era, { since: "1.4.0", install: "packsInstallAction", listField: "name" });
        assert.match(source, /^StackStorm\/st2docs@v1\.4:/);
        assert.equal(packEra("2.10.4").install, "packsInstallAction");
        assert.equal(packEra("2.10.4").listField, "ref");
        assert.equal(packEra("3.0.0").install, "packInstallCommand");
    });
});

describe("datastore conversion", () => {
    it("1.4 -> 1.5+: adds scope and secret (the 1.4 export has neither)", () => {
        const items = convert([{ name: "b", value: "2" }, { name: "a", value: "1", expire_timestamp: "2024-01-01T00:01:00.000000Z" }], "1.4.0", "2.6.0");
        assert.deepEqual(items, [
            { name: "a", value: "1", scope: "st2kv.system", secret: false, ttl: 60 },
            { name: "b", value: "2", scope: "st2kv.system", secret: false },
        ]);
        assert.deepEqual(convert([{ name: "a", value: "1" }], "1.4.0", "3.9.0"), [{ name: "a", value: "1", scope: "st2kv.system", secret: false }]);
    });

    it("1.5/2.0 -> 2.1+: system/user become st2kv.system/st2kv.user; users' keys keep their user; secrets are marked", () => {
        const exported = [
            { name: "api_url", value: "https://x", secret: false, encrypted: false, scope: "system" },
            { name: "token", value: "s3cr3t-plain", secret: true, encrypted: false, scope: "system" },
            { name: "pref", value: "dark", secret: false, encrypted: false, scope: "user", user: "alice" },
            { name: "pref", value: "light", secret: false, encrypted: false, scope: "user", user: "bob" },
        ];
        for (const from of ["1.5.0", "2.0.1"]) {
            assert.deepEqual(convert(exported, from, "2.6.0"), [
                { name: "api_url", value: "https://x", scope: "st2kv.system", secret: false },
                { name: "token", value: "s3cr3t-plain", scope: "st2kv.system", secret: true },
                { name: "pref", value: "dark", scope: "st2kv.user", user: "alice", secret: false },
                { name: "pref", value: "light", scope: "st2kv.user", user: "bob", secret: false },
            ]);
        }
    });

    it("2.1+ -> 3.x: scopes kept, fields a newer CLI adds ignored, null fields dropped", () => {
        const exported = [
            { name: "k", value: "v", secret: false, encrypted: false, scope: "st2kv.system", user: null, id: "5f00" },
            { name: "pw", value: "plain", secret: true, encrypted: false, scope: "st2kv.user", user: "stanley" },
        ];
        assert.deepEqual(convert(exported, "2.2.0", "3.9.0"), [
            { name: "k", value: "v", scope: "st2kv.system", secret: false },
            { name: "pw", value: "plain", scope: "st2kv.user", user: "stanley", secret: true },
        ]);
        assert.deepEqual(convert(exported, "3.8.1", "3.9.0"), convert(exported, "2.2.0", "3.9.0"));
    });

    it("counts per scope in the target's names, secrets and expired keys left out", () => {
        const { counts } = convertExport(
            JSON.stringify([
                { name: "a", value: "1", scope: "user", user: "u", secret: true, encrypted: false },
                { name: "b", value: "2", scope: "system", expire_timestamp: "2023-12-31T23:59:59Z" },
                { name: "c", value: "3", scope: "system" },
            ]),
            "2.0.1",
            "3.9.0",
            NOW,
        );
        assert.deepEqual(counts, { total: 2, byScope: { "st2kv.system": 1, "st2kv.user": 1 }, secrets: 1, expired: 1 });
    });

    it("joins the listings of the export envelope (one st2 key list per scope before 2.1)", () => {
        const envelope = { st2upgradeExport: 1, version: "2.0.1", listings: [[{ name: "a", value: "1", scope: "system" }], [{ name: "b", value: "2", scope: "user", user: "u" }], []] };
        assert.deepEqual(parseExport(JSON.stringify(envelope)).map((i) => i.name), ["a", "b"]);
    });

    it("refuses a secret still encrypted with the old host's key (st2 #4545)", () => {
        rejects(
            () => convert([{ name: "ok", value: "v", scope: "st2kv.system" }, { name: "token", value: "AB12CD", secret: true, encrypted: true, scope: "st2kv.system" }], "2.2.0", "3.9.0"),
            'item 2 ("token") is a secret exported still encrypted: export with st2 key list --decrypt, so that the new host encrypts it again with its own crypto key (an encrypted value only decrypts with the key of the host that encrypted it, StackStorm/st2 #4545)',
        );
        // Summaries compare exports made without --decrypt: secrets' values are ignored there.
        const summary = summarizeExport(JSON.stringify([{ name: "token", value: "AB12CD", secret: true, encrypted: true, scope: "st2kv.system" }]), "2.2.0", "3.9.0", NOW);
        assert.deepEqual(summary.entries, [{ scope: "st2kv.system", name: "token", secret: true }]);
    });

    it("rejects malformed JSON without quoting it (it may hold a secret)", () => {
        const text = '[{"name": "token", "value": "hunter2-secret"\n x}]';
        assert.throws(
            () => parseExport(text),
            (e: unknown) => {
                assert.ok(e instanceof DatastoreError);
                assert.equal(e.message, "the datastore export is not valid JSON at line 2, column 2: expected the output of st2 key list -j");
                assert.doesNotMatch(e.message, /hunter2/);
                return true;
            },
        );
        rejects(() => parseExport("  \n"), "the datastore export is empty: st2 key list -j printed nothing (is st2api running, is the CLI authenticated?)");
        rejects(() => parseExport('{"name": "a"}'), "the datastore export must be a JSON list of keys, as st2 key list -j prints it");
        rejects(() => parseExport('[{"name": "a"}]'), 'item 1 ("a") of the datastore export: value is missing');
        rejects(() => parseExport('[{"name": "a", "value": 3}]'), 'item 1 ("a") of the datastore export: value must be a string');
        rejects(() => parseExport('[{"name": "a", "value": "x", "secret": "yes"}]'), 'item 1 ("a") of the datastore export: secret must be true or false');
        rejects(() => parseExport('["a"]'), "item 1 of the datastore export is not an object with name and value");
    });

    it("rejects an unknown scope, naming the item", () => {
        rejects(
            () => convert([{ name: "a", value: "1", scope: "st2kv.system" }, { name: "b", value: "2", scope: "st2kv.bogus" }], "2.2.0", "3.9.0"),
            'item 2 ("b") has scope "st2kv.bogus", which is not a scope of StackStorm 2.2.0 (st2kv.system or st2kv.user)',
        );
        rejects(
            () => convert([{ name: "a", value: "1", scope: "st2kv.system" }], "2.0.1", "3.9.0"),
            'item 1 ("a") has scope "st2kv.system", which is not a scope of StackStorm 2.0.1 (system or user)',
        );
        rejects(() => convert([{ name: "a", value: "1", scope: "user" }], "2.0.1", "3.9.0"), 'item 1 ("a") is in scope user but names no user');
        rejects(() => convert([{ name: "a", value: "1" }], "2.2.0", "3.9.0"), 'item 1 ("a") has no scope, but StackStorm 2.2.0 exports always carry one (st2kv.system or st2kv.user): was the export made by 2.2.0?');
        rejects(() => convert([{ name: "a", value: "1", scope: "system" }], "1.4.0", "3.9.0"), 'item 1 ("a") has a scope or secret flag, but StackStorm 1.4.0 exports have neither: was the export made by 1.4.0?');
    });

    it("rejects duplicates and bad expiry times", () => {
        rejects(
            () => convert([{ name: "a", value: "1", scope: "user", user: "u" }, { name: "a", value: "2", scope: "user", user: "u" }], "2.0.1", "3.9.0"),
            'item 2 ("a") appears twice in the export (same scope, user and name)',
        );
        assert.equal(convert([{ name: "a", value: "1", scope: "user", user: "u" }, { name: "a", value: "2", scope: "user", user: "v" }], "2.0.1", "3.9.0").length, 2);
        rejects(() => convert([{ name: "a", value: "1", scope: "system", expire_timestamp: "soon" }], "2.0.1", "3.9.0"), 'item 1 ("a") has expire_timestamp "soon", which is not an ISO 8601 time');
    });

    it("refuses downgrades and targets whose st2 key load drops scope and secret", () => {
        rejects(
            () => checkConversion("3.9.0", "3.8.1"),
            "refusing to convert a 3.9.0 datastore for 3.8.1: a roll-over goes to the same or a newer release, never back (scope names would have to be mapped back and secrets could not be kept)",
        );
        rejects(
            () => checkConversion("2.0.1", "2.5.1"),
            "StackStorm 2.5.1 cannot receive the datastore: its st2 key load reads only name and value, so scope, user and secret would be silently dropped (secrets stored as plain text, users' keys turned into system keys). Roll over to 2.6.0 or later, then upgrade in place.",
        );
        rejects(() => checkConversion("1.3.0", "3.9.0"), '"1.3.0" is not a StackStorm release the datastore catalog covers (oldest: 1.4.0)');
        rejects(() => checkConversion("3.9", "3.9.0"), '"3.9" is not a version: expected MAJOR.MINOR.PATCH, for example "3.9.0"');
        assert.doesNotThrow(() => checkConversion("3.9.0", "3.9.0"));
    });

    it("converts parsed items with the same rules (what the CLI's summary uses)", () => {
        const { items } = convertItems(parseExport('[{"name":"x","value":"1","scope":"system"}]'), "2.0.1", "2.6.0", { now: NOW });
        assert.deepEqual(items, [{ name: "x", value: "1", scope: "st2kv.system", secret: false }]);
    });
});

describe("datastore summaries", () => {
    const old = JSON.stringify([
        { name: "a", value: "1", scope: "system" },
        { name: "s", value: "ENCRYPTED-OLD", secret: true, encrypted: true, scope: "system" },
        { name: "p", value: "x", scope: "user", user: "u" },
    ]);

    it("never carries a secret's value, hashes the others", () => {
        const s = summarizeExport(old, "2.0.1", "3.9.0", NOW);
        assert.deepEqual(s.byScope, { "st2kv.system": 2, "st2kv.user": 1 });
        assert.equal(s.secrets, 1);
        assert.doesNotMatch(JSON.stringify(s), /ENCRYPTED-OLD/);
        assert.equal(s.entries.find((e) => e.name === "a")!.valueSha256, "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
    });

    it("finds missing and different keys, tolerates extra ones", () => {
        const a = summarizeExport(old, "2.0.1", "3.9.0", NOW);
        const same = summarizeExport(
            JSON.stringify([
                { name: "a", value: "1", scope: "st2kv.system" },
                { name: "s", value: "ENCRYPTED-NEW", secret: true, encrypted: true, scope: "st2kv.system" },
                { name: "p", value: "x", scope: "st2kv.user", user: "u" },
                { name: "fresh", value: "y", scope: "st2kv.system" },
            ]),
            "3.9.0",
            "3.9.0",
            NOW,
        );
        assert.deepEqual(compareSummaries(a, same), { ok: true, matched: 3, missing: [], different: [], extra: 1 });
        const changed = summarizeExport(JSON.stringify([{ name: "a", value: "2", scope: "st2kv.system" }, { name: "s", value: "v", scope: "st2kv.system" }]), "3.9.0", "3.9.0", NOW);
        assert.deepEqual(compareSummaries(a, changed), { ok: false, matched: 0, missing: ["st2kv.user/u:p"], different: ["st2kv.system:a", "st2kv.system:s"], extra: 0 });
    });
});

describe("convert-cli", () => {
    const exported = JSON.stringify([{ name: "t", value: "plain-secret", secret: true, encrypted: false, scope: "system" }]);

    it("converts stdin to a load file, counts on stderr", () => {
        const r = runCli(["--from", "2.0.1", "--to", "3.9.0"], () => exported);
        assert.equal(r.code, 0);
        assert.deepEqual(JSON.parse(r.stdout), [{ name: "t", value: "plain-secret", scope: "st2kv.system", secret: true }]);
        assert.equal(r.stderr, "st2-upgrade convert-cli: 1 key(s) for 3.9.0 (st2kv.system: 1, st2kv.user: 0; 1 secret(s))\n");
        assert.deepEqual(runCli(["convert", "--from=2.0.1", "--to=3.9.0"], () => exported), r);
    });

    it("reports bad input and bad arguments without values", () => {
        const bad = runCli(["--from", "2.0.1", "--to", "3.9.0"], () => '[{"name": "t", "value": "plain-secret", "scope": "nowhere"}]');
        assert.equal(bad.code, 1);
        assert.equal(bad.stderr, 'st2-upgrade convert-cli: item 1 ("t") has scope "nowhere", which is not a scope of StackStorm 2.0.1 (system or user)\n');
        assert.equal(bad.stdout, "");
        const usage = runCli(["--from", "2.0.1"], () => exported);
        assert.equal(usage.code, 2);
        assert.match(usage.stderr, /^st2-upgrade convert-cli: --from and --to are required\nusage: convert-cli/);
        assert.equal(runCli(["--frm", "2.0.1"], () => exported).stderr.split("\n")[0], 'st2-upgrade convert-cli: unknown argument "--frm"');
        assert.equal(runCli(["compare", "a"], () => "").code, 2);
    });

    it("compares two summaries: counts on success, the names of the keys that differ on failure", () => {
        const files: Record<string, string> = {
            old: runCli(["summary", "--from", "2.0.1", "--to", "3.9.0"], () => exported).stdout,
            same: runCli(["summary", "--from", "3.9.0", "--to", "3.9.0"], () => JSON.stringify([{ name: "t", value: "ENC", secret: true, encrypted: true, scope: "st2kv.system" }])).stdout,
            empty: runCli(["summary", "--from", "3.9.0", "--to", "3.9.0"], () => "[]").stdout,
        };
        const ok = runCli(["compare", "old", "same"], () => "", (p) => files[p]);
        assert.equal(ok.code, 0);
        assert.equal(ok.stdout, 'DATASTORE {"total":1,"byScope":{"st2kv.system":1,"st2kv.user":0},"secrets":1,"matched":1,"extra":0}\n');
        const missing = runCli(["compare", "old", "empty"], () => "", (p) => files[p]);
        assert.equal(missing.code, 1);
        assert.equal(missing.stderr, "st2-upgrade convert-cli: the datastores differ: 1 key(s) of the old host missing on the new host: st2kv.system:t\n");
        assert.doesNotMatch(files.old, /plain-secret/);
    });

    it("runs as a pipe filter", () => {
        const r = spawnSync(process.execPath, [CLI, "--from", "1.4.0", "--to", "3.9.0"], { input: '[{"name":"a","value":"1"}]', encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(JSON.parse(r.stdout), [{ name: "a", value: "1", scope: "st2kv.system", secret: false }]);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-cli-"));
        fs.writeFileSync(path.join(dir, "s.json"), "not json");
        const c = spawnSync(process.execPath, [CLI, "compare", path.join(dir, "s.json"), path.join(dir, "missing.json")], { encoding: "utf8" });
        assert.equal(c.status, 1);
        assert.equal(c.stderr, `st2-upgrade convert-cli: the old host's summary ${path.join(dir, "s.json")} is not a datastore summary (not JSON)\n`);
        fs.rmSync(dir, { recursive: true });
    });
});
