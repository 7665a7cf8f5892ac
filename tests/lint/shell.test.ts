// The project's own shell scripts (lab, bench, scripts/; every *.sh git tracks) pass shellcheck,
// following what they source (-x), and every one that runs as a program stops at the first failure
// (`set -euo pipefail`). The scripts the program sends to hosts are checked where they are generated
// (tests/unit/scripts.test.ts, facts.test.ts). A broken copy must fail, so this cannot pass by not
// checking.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");

/**
 * Programs that handle each command's status themselves. The double's copy of StackStorm's
 * st2-migrate-runners.sh keeps the real script's behaviour: a failed reload prints its message and
 * exits 1 (`set -uo pipefail`, no -e).
 */
const NO_ERREXIT = new Set(["lab/double/src/bin/st2-migrate-runners.sh"]);

function trackedScripts(): string[] {
    const r = spawnSync("git", ["ls-files", "-z", "--", "*.sh"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split("\0").filter((f) => f !== "");
}

function shellcheck(files: readonly string[], cwd = ROOT): { code: number; out: string } {
    const r = spawnSync("shellcheck", ["-x", "-f", "gcc", ...files], { cwd, encoding: "utf8" });
    assert.equal(r.error, undefined, String(r.error));
    return { code: r.status ?? 128, out: `${r.stdout}${r.stderr}` };
}

describe("the project's shell scripts", () => {
    const scripts = trackedScripts();

    it(`pass shellcheck -x (${scripts.length} scripts)`, () => {
        assert.ok(scripts.length >= 20, `git lists ${scripts.length} scripts`);
        const r = shellcheck(scripts);
        assert.equal(r.code, 0, r.out);
    });

    it("stop at the first failure when they run as programs", () => {
        const programs = scripts.filter((f) => fs.readFileSync(path.join(ROOT, f), "utf8").startsWith("#!"));
        assert.ok(programs.length >= 15, `${programs.length} programs`);
        const lax = programs.filter((f) => !NO_ERREXIT.has(f) && !/^set -euo pipefail$/m.test(fs.readFileSync(path.join(ROOT, f), "utf8")));
        assert.deepEqual(lax, [], "scripts without `set -euo pipefail`");
    });

    it("fails a script with an unquoted expansion", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shell-lint-"));
        try {
            fs.writeFileSync(path.join(dir, "bad.sh"), '#!/bin/bash\nset -euo pipefail\nrm -rf $1/tmp\n');
            const r = shellcheck(["bad.sh"], dir);
            assert.notEqual(r.code, 0);
            assert.match(r.out, /SC2086/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
