/**
 * What st2 installs as executables, against the 3.8.1 and 3.9.0 recordings: the venv bin listing
 * (50) and the migration scripts of the source tree (51). The recordings come from a source install
 * (real-st2/README.md): packages are built differently, so the comparison is one of names.
 * - Every executable the double's st2 package puts into /opt/stackstorm/st2/bin is in the listing,
 *   and every service the double runs is there.
 * - The catalog's script migrations name real scripts (51) and are not installed by 3.8.1/3.9.0 (50),
 *   as their `shippedUntil` says; the double's packages ship them exactly up to that line.
 * Not imitated: the scripts' `--help` (52, 53-*): the program never asks for it (it runs a script as
 * `<path> [--config-file /etc/st2/st2.conf]`), the double ships the v1.5/v2.1 scripts only up to
 * 3.0.x whose option list is not the 3.8/3.9 one recorded, and st2-migrate-db-dict-field-values
 * (v3.5, optional per StackStorm/st2docs@v3.9:docs/source/upgrade_notes.rst, v3.5) is not run by
 * the program, so the double does not ship it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { compareLines, lineName, type ScriptMigration } from "../../components/catalog";
import { RELEASE_LINES } from "../../components/catalog/releases";
import { LAB_PROJECT_ROOT } from "../../lab/support/lab";
import { transcript } from "../support/reference";

const DOUBLE = path.join(LAB_PROJECT_ROOT, "lab", "double");
/** The versions the double emulates (versions.tsv). */
const DOUBLE_VERSIONS = fs.readFileSync(path.join(DOUBLE, "versions.tsv"), "utf8").split("\n")
    .filter((l) => /^\d/.test(l)).map((l) => l.split(/\s+/)[0]);

const scripts: { line: string; m: ScriptMigration }[] = RELEASE_LINES.flatMap((l) =>
    (l.migrations ?? []).filter((m): m is ScriptMigration => m.kind === "script").map((m) => ({ line: l.line, m })));

/** The double's staged package trees (tools/stage.py, as build-repo.sh runs it). */
let stage = "";
function bin(version: string): string[] {
    const dir = fs.readdirSync(stage).find((d) => d.startsWith(`st2_${version}-`));
    assert.ok(dir, `no st2 ${version} package staged`);
    return fs.readdirSync(path.join(stage, dir, "opt/stackstorm/st2/bin")).sort();
}

describe("st2's executables: the double and the catalog against the recordings", () => {
    before(() => {
        stage = fs.mkdtempSync(path.join(os.tmpdir(), "st2double-stage-"));
        const r = spawnSync("python3", [path.join(DOUBLE, "tools", "stage.py"), DOUBLE, stage], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
    });
    after(() => fs.rmSync(stage, { recursive: true, force: true }));

    it("there are script migrations to check", () => {
        assert.ok(scripts.length >= 3, JSON.stringify(scripts.map((s) => s.m.id)));
    });

    for (const version of ["3.8.1", "3.9.0"]) {
        it(`${version} 50: every executable of the double's st2 package is one real st2 installs, every service too`, () => {
            const recorded = transcript(version, "50").output.split("\n").filter(Boolean);
            const double = bin(version);
            assert.deepEqual(double.filter((f) => !recorded.includes(f)), []);
            // the services: the double's executables named like st2 services are all recorded ones
            const services = double.filter((f) => /^st2[a-z]+$/.test(f) && f !== "st2");
            assert.ok(services.length >= 11, services.join(" "));
        });

        it(`${version} 50, 51: the catalog's migration scripts are real scripts, not installed by ${version}`, () => {
            const source = transcript(version, "51").output.split("\n").filter(Boolean);
            const installed = transcript(version, "50").output.split("\n").filter(Boolean);
            for (const { line, m } of scripts) {
                const name = path.basename(m.path);
                assert.ok(source.includes(`<st2-source>/st2common/bin/migrations/v${line}/${name}`), `${m.id}: ${name} is not in v${line}/ of the source tree (51)`);
                assert.ok(!installed.includes(name), `${m.id}: ${version} installs ${name}`);
                assert.ok(m.shippedUntil && compareLines(m.shippedUntil, lineName(version)) < 0,
                    `${m.id}: shippedUntil ${m.shippedUntil} but ${version} does not install it`);
            }
        });
    }

    it("the double ships each catalog script from its line up to its shippedUntil line, at that path", () => {
        for (const { line, m } of scripts) {
            for (const version of DOUBLE_VERSIONS) {
                const expected = compareLines(lineName(version), line) >= 0 && compareLines(lineName(version), m.shippedUntil!) <= 0;
                assert.equal(bin(version).includes(path.basename(m.path)), expected, `${m.id} in the double's st2 ${version}`);
                assert.equal(path.dirname(m.path), "/opt/stackstorm/st2/bin", m.id);
            }
        }
    });
});
