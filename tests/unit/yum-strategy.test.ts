// The yum strategy's bash functions, run against what real dnf 4.14 printed in the lab
// (tests/fixtures/dnf/, recorded on a Rocky 8 lab host) through a fake `yum` and `rpm` on PATH: the
// fake replays a recording and its exit code, and keeps a list of installed packages that a
// transaction changes. tests/e2e/yum.test.ts runs the same functions against real dnf and rpm.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { packageManager, YUM_REINSTALL_FILE } from "../../components/scripts/packageManagers";
import { stepScript } from "../../components/scripts/shell";
import { LAB_PROJECT_ROOT } from "../../lab/support/lab";

const FIXTURES = path.join(LAB_PROJECT_ROOT, "tests", "fixtures", "dnf");
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A recording: its output (without the last line) and the exit code that line gives. */
function recording(name: string): { out: string; code: number } {
    const lines = fs.readFileSync(path.join(FIXTURES, name), "utf8").replace(/\n$/, "").split("\n");
    const last = /^exit (\d+)$/.exec(lines.pop() ?? "");
    assert.ok(last, `${name} ends with its exit code`);
    return { out: `${lines.join("\n")}\n`, code: Number(last[1]) };
}

interface Fake {
    /** `yum <subcommand>` answers with this output and code, and leaves `installed` as given. */
    yum?: Record<string, { out: string; code: number; installed?: string[] }>;
    /** Installed packages, `name version-release arch`. */
    installed: string[];
}

const FAKE_RPM = `#!/bin/bash
# rpm -q [--qf FORMAT] NAME|NAME-VERSION-RELEASE[.ARCH]: answers from $FAKE/installed
if [ "$2" = --qf ]; then qf=1; pkg=$4; else qf=""; pkg=$2; fi
found=0
while read -r n vr a; do
  if [ "$pkg" = "$n" ] || [ "$pkg" = "$n-$vr" ] || [ "$pkg" = "$n-$vr.$a" ]; then
    found=1
    if [ -n "$qf" ]; then echo "$vr"; fi
  fi
done <"$FAKE/installed"
if [ "$found" = 0 ]; then echo "package $pkg is not installed"; exit 1; fi
`;

const FAKE_YUM = `#!/bin/bash
# yum ARGS: logs ARGS, replays $FAKE/yum-<subcommand>.out with exit code .code, then installs .installed
printf '%s\\n' "$*" >>"$FAKE/yum.calls"
words=()
for a in "$@"; do case $a in -*) ;; *) words+=("$a") ;; esac; done
sub=\${words[0]}
if [ "$sub" = versionlock ]; then sub=versionlock-\${words[1]}; fi
if [ -f "$FAKE/yum-$sub.out" ]; then cat "$FAKE/yum-$sub.out"; fi
if [ -f "$FAKE/yum-$sub.installed" ]; then cp "$FAKE/yum-$sub.installed" "$FAKE/installed"; fi
exit "$(cat "$FAKE/yum-$sub.code" 2>/dev/null || echo 0)"
`;

/** Runs `lines` after the yum strategy's functions, with the fakes first on PATH. */
function run(fake: Fake, lines: string[]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-yum-"));
    dirs.push(dir);
    fs.mkdirSync(path.join(dir, "bin"));
    fs.writeFileSync(path.join(dir, "bin", "rpm"), FAKE_RPM, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "bin", "yum"), FAKE_YUM, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "installed"), fake.installed.map((l) => `${l}\n`).join(""));
    for (const [sub, r] of Object.entries(fake.yum ?? {})) {
        fs.writeFileSync(path.join(dir, `yum-${sub}.out`), r.out);
        fs.writeFileSync(path.join(dir, `yum-${sub}.code`), String(r.code));
        if (r.installed) fs.writeFileSync(path.join(dir, `yum-${sub}.installed`), r.installed.map((l) => `${l}\n`).join(""));
    }
    const reinstall = path.join(dir, "state", "yum-reinstall");
    const yum = packageManager("yum");
    // The functions as generated, with the remembered-packages file moved into the test's folder.
    const functions = [yum.query, yum.install].map((f) => f.split(YUM_REINSTALL_FILE).join(reinstall));
    const { body } = stepScript({ host: "h", step: "s", title: "test" }, functions, lines, 10);
    const r = spawnSync("bash", ["-c", body], { encoding: "utf8", env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}`, FAKE: dir } });
    const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "");
    return { ...r, calls: read(path.join(dir, "yum.calls")), reinstall: read(reinstall), installed: read(path.join(dir, "installed")) };
}

const AT_381 = ["st2 3.8.1-1 x86_64", "st2web 3.8.1-3 x86_64"];

describe("yum strategy against recorded dnf 4.14", () => {
    it("resolves the newest revision of a version from `yum --showduplicates list available`", () => {
        const r = run({ installed: AT_381, yum: { list: recording("list-available-st2.txt") } }, [`pm_resolve st2 3.9.0`, `pm_resolve st2 3.8.1`]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "st2-3.9.0-1\nst2-3.8.1-1\n");
        assert.match(r.calls, /^-q --disableplugin=versionlock --showduplicates list available st2$/m);
    });

    it("reads an epoch and a name.arch printed on a line of its own, and refuses a version the repositories lack", () => {
        const list = {
            out: "Available Packages\nst2.x86_64   1:2.10.4-1   stackstorm\nst2.x86_64   1:2.10.4-3   stackstorm\nst2-auth-ldap.x86_64  3.0.1-1  stackstorm\nst2.x86_64\n             3.0.1-2     stackstorm\n",
            code: 0,
        };
        const ok = run({ installed: [], yum: { list } }, [`pm_resolve st2 2.10.4`, `pm_resolve st2 3.0.1`]);
        assert.equal(ok.stdout, "st2-2.10.4-3\nst2-3.0.1-2\n", ok.stderr);
        const missing = run({ installed: [], yum: { list } }, [`pm_resolve st2 3.9.0`]);
        assert.equal(missing.status, 1);
        assert.match(missing.stderr, /ERROR: no st2 3\.9\.0-\* in the yum repositories .*is the StackStorm 3\.9\.0 repository configured\?/);
    });

    it("reports the newest installed instance, nothing for a package that is not installed", () => {
        const r = run({ installed: ["st2 3.8.1-1 x86_64", "st2 3.9.0-1 x86_64"] }, [`echo "[$(pm_installed st2)]"`, `echo "[$(pm_installed st2web)]"`]);
        assert.equal(r.stdout, "[3.9.0-1]\n[]\n", r.stderr);
    });

    it("expires the metadata cache before making it", () => {
        const r = run({ installed: AT_381 }, [`pm_refresh`]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.calls, "-q -y clean expire-cache\n-q -y makecache\n");
    });

    it("upgrades to exactly the tokens, and checks rpm has them", () => {
        const done = ["st2 3.9.0-1 x86_64", "st2web 3.9.0-3 x86_64"];
        const r = run({ installed: AT_381, yum: { update: { out: "Complete!\n", code: 0, installed: done } } }, [`pm_upgrade st2-3.9.0-1 st2web-3.9.0-3`, `echo upgraded`]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.calls, "-y --disableplugin=versionlock update st2-3.9.0-1 st2web-3.9.0-3\n-q versionlock list\n");
        assert.match(r.stdout, /Complete!\nupgraded\n$/);
        assert.equal(r.reinstall, "");
    });

    it("bypasses a versionlock on the packages it upgrades, then moves the lock to the installed version", () => {
        const done = ["st2 3.9.0-1 x86_64", "st2web 3.9.0-3 x86_64"];
        const yum = {
            update: { out: "Complete!\n", code: 0, installed: done },
            // as dnf 4.14's versionlock plugin lists its entries (name-epoch:version-release.*)
            "versionlock-list": { out: "st2-0:3.8.1-1.*\nst2chatops-0:3.8.1-2.*\nst2-auth-ldap-0:3.8.1-1.*\n", code: 0 },
        };
        const r = run({ installed: AT_381, yum }, [`pm_upgrade st2-3.9.0-1 st2web-3.9.0-3`]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.calls.trim().split("\n"), [
            "-y --disableplugin=versionlock update st2-3.9.0-1 st2web-3.9.0-3",
            "-q versionlock list",
            "-q -y versionlock delete st2-0:3.8.1-1.*",
            "-q -y versionlock add st2",
            "-q versionlock list",
        ]);
        assert.match(r.stdout, /versionlock: st2-0:3\.8\.1-1\.\* replaced by /);
        const plain = run({ installed: AT_381, yum: { update: { out: "", code: 0, installed: done }, "versionlock-list": { out: "", code: 1 } } }, [`pm_upgrade st2-3.9.0-1`]);
        assert.equal(plain.status, 0, plain.stderr);
        assert.doesNotMatch(plain.calls, /versionlock (delete|add)/);
    });

    it("fails when yum exits 0 but a token is not installed (yum 3 skips an argument that matches nothing)", () => {
        const r = run({ installed: AT_381, yum: { update: { out: "No package st2-3.9.0-1 available.\nNo packages marked for update\n", code: 0 } } }, [`pm_upgrade st2-3.9.0-1 || echo "failed $?"`]);
        assert.match(r.stdout, /failed 1\n$/);
        assert.match(r.stderr, /yum exited 0 but rpm has not got: st2-3\.9\.0-1/);
    });

    it("fails on a %post that failed though dnf exited 0, and remembers the package for a reinstall", () => {
        const post = recording("update-post-fail.txt");
        assert.equal(post.code, 0, "dnf 4.14 exits 0 when a %post fails");
        const done = ["st2 3.9.0-1 x86_64", "st2web 3.9.0-3 x86_64"];
        const r = run({ installed: AT_381, yum: { update: { ...post, installed: done } } }, [`pm_upgrade st2-3.9.0-1 st2web-3.9.0-3 || echo "failed $?"`]);
        assert.match(r.stdout, /failed 1\n$/);
        assert.match(r.stderr, /a package scriptlet failed \(see above\) though yum exited 0: the next run reinstalls st2-3\.9\.0-1\.x86_64 to run it again/);
        assert.equal(r.reinstall, "st2-3.9.0-1.x86_64\n");
    });

    it("fails on a %pre that failed, without a reinstall: rpm kept the old package and the next upgrade retries it", () => {
        const pre = recording("update-pre-fail.txt");
        assert.equal(pre.code, 1);
        const r = run({ installed: AT_381, yum: { update: { ...pre, installed: ["st2 3.8.1-1 x86_64", "st2web 3.9.0-3 x86_64"] } } }, [`pm_upgrade st2-3.9.0-1 st2web-3.9.0-3 || echo "failed $?"`]);
        assert.match(r.stdout, /Error: Transaction failed\n[^]*failed 1\n$/);
        assert.equal(r.reinstall, "");
    });

    it("passes on dnf's own failure for a version it cannot find", () => {
        const r = run({ installed: AT_381, yum: { update: recording("update-no-match.txt") } }, [`pm_upgrade st2-3.7.0-1 || echo "failed $?"`]);
        assert.match(r.stdout, /No match for argument: st2-3\.7\.0-1\n[^]*failed 1\n$/);
    });

    it("repairs by reinstalling what a failed scriptlet left, once, and does nothing otherwise", () => {
        const reinstall = recording("reinstall.txt");
        const lines = [`install -d "$(dirname "$FAKE/state/x")"`, `echo st2-3.9.0-1.x86_64 >"$FAKE/state/yum-reinstall"`, `pm_repair`, `pm_repair`, `echo repaired`];
        const r = run({ installed: ["st2 3.9.0-1 x86_64"], yum: { reinstall } }, lines);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.calls, "-y --disableplugin=versionlock reinstall st2-3.9.0-1.x86_64\n");
        assert.match(r.stdout, /\[st2-upgrade h\/s\] reinstalling st2-3\.9\.0-1\.x86_64: a scriptlet of theirs failed in an earlier run\n[^]*repaired\n$/);
        assert.equal(r.reinstall, "");
        const none = run({ installed: AT_381 }, [`pm_repair`]);
        assert.equal(none.status, 0, none.stderr);
        assert.equal(none.calls, "");
    });

    it("keeps the package to reinstall when the reinstall itself fails", () => {
        const lines = [`install -d "$FAKE/state"`, `echo st2-3.9.0-1.x86_64 >"$FAKE/state/yum-reinstall"`, `pm_repair`];
        const r = run({ installed: ["st2 3.9.0-1 x86_64"], yum: { reinstall: { out: "Error: Failed to download metadata for repo 'st2-lab'\n", code: 1 } } }, lines);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /ERROR: reinstalling st2-3\.9\.0-1\.x86_64 failed \(see above\); the next run tries again/);
        assert.equal(r.reinstall, "st2-3.9.0-1.x86_64\n");
    });
});
