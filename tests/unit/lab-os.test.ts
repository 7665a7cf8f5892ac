/**
 * Lab hosts claim an OS (lab/bin/up.sh --os, labUp({ os })): the files lab_os_claim writes read back
 * as that OS, and every version of the double has a default OS its release supported.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { LAB_PROJECT_ROOT } from "../../lab/support/lab";

function labBash(script: string) {
    const r = spawnSync("bash", ["-c", `set -euo pipefail; . lab/lib/common.sh; . lab/lib/host.sh; ${script}`], { cwd: LAB_PROJECT_ROOT, encoding: "utf8" });
    if (r.error) throw r.error;
    return r;
}

function tsv(rel: string): string[][] {
    return fs.readFileSync(path.join(LAB_PROJECT_ROOT, rel), "utf8").split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(/\t|\s{2,}/));
}

describe("lab hosts claim an OS", () => {
    for (const [key, id, versionId] of tsv("lab/lib/os.tsv")) {
        it(`${key}: /etc/os-release says ID=${id} VERSION_ID=${versionId}`, () => {
            const root = fs.mkdtempSync(path.join(os.tmpdir(), "lab-os-"));
            fs.mkdirSync(path.join(root, "etc"));
            fs.mkdirSync(path.join(root, "usr/lib"), { recursive: true });
            fs.symlinkSync("../usr/lib/os-release", path.join(root, "etc/os-release"));
            const r = labBash(`lab_os_claim ${root} ${key}; . ${root}/etc/os-release; echo "$ID $VERSION_ID"; . ${root}/usr/lib/os-release; echo "$ID $VERSION_ID"`);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(r.stdout, `${id} ${versionId}\n${id} ${versionId}\n`);
            assert.equal(fs.lstatSync(path.join(root, "etc/os-release")).isSymbolicLink(), false);
            assert.equal(fs.existsSync(path.join(root, "etc/lsb-release")), id === "ubuntu");
        });
    }

    it("every version of the double has a default OS from os.tsv, with its source", () => {
        const known = new Set(tsv("lab/lib/os.tsv").map((r) => r[0]));
        const defaults = new Map(tsv("lab/double/os-defaults.tsv").map((r) => [r[0], r]));
        for (const [version] of tsv("lab/double/versions.tsv")) {
            const row = defaults.get(version);
            assert.ok(row, `no default OS for ${version} in lab/double/os-defaults.tsv`);
            assert.ok(known.has(row[1]), `${version}: ${row[1]} is not in lab/lib/os.tsv`);
            assert.match(row[2] ?? "", /^st2docs v\d/, `${version}: the source is an st2docs branch`);
            assert.equal(labBash(`lab_os_default ${version}`).stdout, `${row[1]}\n`);
        }
    });

    it("refuses an OS it does not know, before any host starts", () => {
        const r = spawnSync("bash", ["lab/bin/up.sh", "--os", "ubuntu:99.04", "--hosts", "1", "--name-prefix", "dos"], { cwd: LAB_PROJECT_ROOT, encoding: "utf8", env: { ...process.env, LAB_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "lab-dir-")) } });
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /unknown --os 'ubuntu:99.04': one of ubuntu:14.04 .* or debian/);
    });
});
