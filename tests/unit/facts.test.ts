// Host facts: the fact script run for real (against a fake host: os-release bind-mounted in a
// private mount namespace, fake st2/st2ctl/dpkg-query on PATH), its parsing, the assertions, the
// refusal in place, the pinned start of the plan, and an unreachable host read through real ssh.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fakeFacts } from "../../lab/support/facts";
import { describe, it } from "node:test";
import { parseConfig } from "../../components/config";
import {
    factScript,
    FactsError,
    mapBounded,
    parseFacts,
    planFrom,
    readFacts,
    resolveHosts,
    settledOn,
    upgradesFromOutputs,
    upgradesFromState,
    type HostFacts,
    type RecordedUpgrade,
} from "../../components/facts";
import { parseBackupName, plan } from "../../components/plan";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const cfg = parseConfig({ targetVersion: "3.9.0", hosts: [{ name: "st2-a", address: "10.0.0.11", user: "stackstorm" }], sshPrivateKey: KEY });

function fakeHost(files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "facts-test-"));
    fs.mkdirSync(path.join(dir, "bin"));
    for (const [name, text] of Object.entries(files)) {
        const file = path.join(dir, name);
        fs.writeFileSync(file, text, { mode: 0o755 });
    }
    return dir;
}

/** Runs the fact script as the host would, with `dir/os-release` as /etc/os-release and `dir/bin` first on PATH. */
function runScript(dir: string): { code: number; stdout: string; stderr: string } {
    const script = factScript("st2-a", cfg);
    const r = spawnSync(
        "unshare",
        ["-m", "bash", "-c", 'mount --bind "$1/os-release" /etc/os-release && PATH="$1/bin:$PATH" exec bash -s', "_", dir],
        { input: script.body, encoding: "utf8" },
    );
    return { code: r.status ?? 255, stdout: r.stdout, stderr: r.stderr };
}

const UBUNTU_1604 = 'NAME="Ubuntu"\nVERSION="16.04.7 LTS (Xenial Xerus)"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="16.04"\n';
// st2 2.x ran on Python 2, whose argparse prints --version on stderr.
const ST2_PY2 = '#!/bin/sh\necho "st2 2.2.0, on Python 2.7.12" >&2\n';
/**
 * dpkg-query -W -f='${Package} ${db:Status-Abbrev} ${Version}\n' NAME..., as Debian's dpkg answers
 * it on a lab host: the packages it knows, sorted by name, one line each ("ii " is the 3-letter
 * abbreviation); the others named on stderr, and exit 1.
 */
const DPKG = (installed: Record<string, string>) =>
    `#!/bin/bash\nshift 2\nrc=0\nfor p in $(printf '%s\\n' "$@" | sort); do\n  case "$p" in\n${Object.entries(installed)
        .map(([p, v]) => `    ${p}) echo "${p} ${v.includes(" ") ? v : `ii  ${v}`}" ;;`)
        .join("\n")}\n    *) echo "dpkg-query: no packages found matching $p" >&2; rc=1 ;;\n  esac\ndone\nexit $rc\n`;

describe("the fact script", () => {
    it("is shellcheck-clean, and its remote command too", () => {
        const script = factScript("st2-a", cfg);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "facts-sc-"));
        fs.writeFileSync(path.join(dir, "body.sh"), script.body);
        fs.writeFileSync(path.join(dir, "command.sh"), script.command);
        const body = spawnSync("shellcheck", ["-s", "bash", "-f", "gcc", path.join(dir, "body.sh")], { encoding: "utf8" });
        assert.equal(body.status, 0, body.stdout);
        const cmd = spawnSync("shellcheck", ["-s", "sh", "-f", "gcc", path.join(dir, "command.sh")], { encoding: "utf8" });
        assert.equal(cmd.status, 0, cmd.stdout);
    });

    it("reads OS, packages with revisions (enterprise too), st2 --version from stderr, st2ctl's components", () => {
        const dir = fakeHost({
            "os-release": UBUNTU_1604,
            "bin/st2": ST2_PY2,
            "bin/st2ctl":
                "#!/bin/sh\necho '##### st2 components status #####'\necho 'st2actionrunner PID: 10'\necho 'st2actionrunner PID: 11'\necho 'st2api PID: 12'\necho 'st2chatops is not running.'\necho 'mistral-server is not running.'\n",
            // st2web was interrupted mid-upgrade (unpacked, not configured); st2chatops was removed, its config kept.
            "bin/dpkg-query": DPKG({ st2: "2.2.0-8", st2web: "iU  2.2.0-3", "bwc-enterprise": "2.2.0-1", st2flow: "2.2.0-2", st2chatops: "rc  2.2.0-1" }),
        });
        const r = runScript(dir);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.split("\n").filter((l) => l !== "").length, 1, "one line on stdout");
        const f = parseFacts(r.stdout);
        assert.deepEqual(f.os, { id: "ubuntu", versionId: "16.04" });
        assert.equal(f.packageManager, "apt");
        assert.deepEqual(f.packages, { st2: "2.2.0-8", st2web: "2.2.0-3", "bwc-enterprise": "2.2.0-1", st2flow: "2.2.0-2" });
        assert.deepEqual(f.unfinished, ["st2web"]);
        assert.equal(f.st2Version, "st2 2.2.0, on Python 2.7.12");
        assert.deepEqual(f.st2ctl, { components: ["st2actionrunner", "st2api", "st2chatops", "mistral-server"], running: ["st2actionrunner", "st2api"] });
        assert.equal(f.mistral.dbRevision, null);
        assert.equal(f.root, true);
        assert.deepEqual(Object.keys(f.freeMb), ["packageCache", "backup"]);
        assert.ok(Number.isInteger(f.freeMb.backup) && f.freeMb.backup! > 0, JSON.stringify(f.freeMb));
    });

    it("reads a RHEL-family host's packages from rpm, the newest instance of each, two instances as unfinished", () => {
        const dir = fakeHost({
            "os-release": 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n',
            // rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\n' NAME..., as rpm 4.x answers: every installed
            // instance (st2 left twice by an interrupted transaction), a sentence on stdout for each
            // package not installed, their count as the exit status.
            "bin/rpm": `#!/bin/bash\nshift 3\nrc=0\nfor pkg in "$@"; do\n  case "$pkg" in\n    st2) printf 'st2 %s\\n' 3.9.0-1 3.8.1-1 ;;\n    st2web) echo st2web 3.9.0-3 ;;\n    *) echo "package $pkg is not installed"; rc=$((rc + 1)) ;;\n  esac\ndone\nexit $rc\n`,
        });
        const r = runScript(dir);
        assert.equal(r.code, 0, r.stderr);
        const f = parseFacts(r.stdout);
        assert.deepEqual(f.os, { id: "rocky", versionId: "8.10" });
        assert.equal(f.packageManager, "yum");
        assert.deepEqual(f.packages, { st2: "3.9.0-1", st2web: "3.9.0-3" });
        assert.deepEqual(f.unfinished, ["st2"]);
    });

    it("keeps its line under 4 KiB and valid JSON whatever the host prints", () => {
        const noise = `"\\\\${"x".repeat(5000)}`;
        const dir = fakeHost({
            "os-release": `ID="${noise}"\nVERSION_ID="${noise}"\n`,
            "bin/st2": `#!/bin/sh\nprintf '%s\\t\\001\\n' '${noise}'\n`,
            "bin/st2ctl": `#!/bin/sh\nfor i in $(seq 1 200); do echo "${"c".repeat(30)}$i PID: $i"; done\n`,
            "bin/dpkg-query": DPKG({ st2: "3.9.0-1" }),
        });
        const r = runScript(dir);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.length > 0 && r.stdout.split("\n").every((l) => Buffer.byteLength(l) <= 4096), `a line of ${r.stdout.length} bytes`);
        const f = parseFacts(r.stdout);
        assert.equal(f.st2ctl?.components.length, 20);
        assert.equal(f.os.id.length, 64);
    });
});

describe("parseFacts", () => {
    it("rejects output that is not one JSON line of facts", () => {
        assert.throws(() => parseFacts("hello\n"), /expected one line of JSON from the fact script, got 0/);
        assert.throws(() => parseFacts('{"a":1}\n'), /without os, packages or root/);
        assert.throws(() => parseFacts(`{"x":"${"y".repeat(5000)}"}\n`), /line of \d+ bytes \(limit 4096\)/);
    });
});

function facts(over: Partial<HostFacts> = {}): HostFacts {
    return fakeFacts("3.8.1", "ubuntu:20.04", { st2Version: "st2 3.8.1, on Python 3.11.2", ...over });
}

function resolveError(hosts: Record<string, unknown>[], f: HostFacts, target = "3.9.0"): string {
    const c = parseConfig({ targetVersion: target, hosts, sshPrivateKey: KEY });
    try {
        resolveHosts(c.hosts, new Map(c.hosts.map((h) => [h.name, f])), new Map(), c.targetVersion, c.skipMigrations);
    } catch (e) {
        assert.ok(e instanceof FactsError, String(e));
        return e.message;
    }
    assert.fail("no error");
}

describe("resolveHosts", () => {
    const base = { name: "st2-a", address: "10.0.0.11", user: "stackstorm" };

    it("plans from what the host runs, with what it has installed", () => {
        const c = parseConfig({ targetVersion: "3.9.0", hosts: [base], sshPrivateKey: KEY });
        const [{ host: h, plan: p }] = resolveHosts(c.hosts, new Map([["st2-a", facts()]]), new Map(), "3.9.0", []);
        assert.equal(h.currentVersion, "3.8.1");
        assert.equal(h.packageManager, "apt");
        assert.deepEqual(h.packages, ["st2", "st2web"]);
        // The host's one plan comes with it, made from the same facts.
        assert.deepEqual(p, plan("3.8.1", "3.9.0", ["st2", "st2web"], [], facts().os));
    });

    it("names host, key, configured and found values, with an example, for each assertion that fails", () => {
        const msg = resolveError([{ ...base, currentVersion: "3.2.0", packageManager: "yum", packages: ["st2"] }], facts());
        assert.match(msg, /st2-upgrade:hosts\[0\]\.currentVersion is "3\.2\.0" but host st2-a \(10\.0\.0\.11\) runs 3\.8\.1 \(st2 package 3\.8\.1-1\)\. .*currentVersion: "3\.8\.1"/);
        assert.match(msg, /st2-upgrade:hosts\[0\]\.packageManager is "yum" but host st2-a \(10\.0\.0\.11\) is ubuntu 20.04 with apt\. .*packageManager: "apt"/);
        assert.match(msg, /st2-upgrade:hosts\[0\]\.packages is \[st2\] but host st2-a \(10\.0\.0\.11\) has \[st2, st2web\] installed\. .*packages: \["st2", "st2web"\]/);
    });

    it("refuses an upgrade the host's OS cannot take in place, with the way forward", () => {
        const msg = resolveError([base], facts({ os: { id: "ubuntu", versionId: "16.04" }, packages: { st2: "2.2.0-8" } }));
        assert.match(msg, /host st2-a \(10\.0\.0\.11\) runs Ubuntu 16\.04: .*2\.2\.0 -> 3\.9\.0 is impossible in place; the newest release Ubuntu 16\.04 can reach in place from 2\.2\.0 is 3\.4\.1/);
        assert.match(msg, /upgrade the OS first/);
        assert.match(msg, /roll over to a new instance running 3\.9\.0 \(docs\/rollover\.md\)[\s\S]*st2-upgrade:rollover:\n\s+oldHost: \{ name: st2-a, address: 10\.0\.0\.11/);
        assert.equal(msg.match(/impossible in place/g)?.length, 1, "the refusal is said once");
        // The same host may go as far as its OS allows.
        const c = parseConfig({ targetVersion: "3.4.1", hosts: [base], sshPrivateKey: KEY });
        const f = facts({ os: { id: "ubuntu", versionId: "16.04" }, packages: { st2: "2.2.0-8" } });
        assert.equal(resolveHosts(c.hosts, new Map([["st2-a", f]]), new Map(), "3.4.1", [])[0].host.currentVersion, "2.2.0");
        // A host that already runs the target (however it got there) is never refused: nothing is left to do.
        const done = parseConfig({ targetVersion: "3.9.0", hosts: [base], sshPrivateKey: KEY });
        const at = facts({ os: { id: "ubuntu", versionId: "16.04" }, packages: { st2: "3.9.0-1" } });
        const recorded = new Map([["st2-a", [{ from: "2.2.0", to: "3.9.0" }]]]);
        assert.equal(resolveHosts(done.hosts, new Map([["st2-a", at]]), recorded, "3.9.0", [])[0].host.currentVersion, "2.2.0");
    });

    it("refuses a host without st2, and one whose st2 the catalog does not know", () => {
        assert.match(resolveError([base], facts({ packages: {} })), /host st2-a \(10\.0\.0\.11\): the st2 package is not installed/);
        assert.match(resolveError([base], facts({ packages: { st2: "3.7.5-1" } })), /runs st2 3\.7\.5-1, a release the catalog does not know/);
    });

    it("refuses the enterprise edition past 3.2 from the facts alone (no packages in the config)", () => {
        const msg = resolveError([base], facts({ os: { id: "ubuntu", versionId: "18.04" }, packages: { st2: "3.2.0-1", "bwc-enterprise": "3.2.0-1" } }), "3.3.0");
        assert.match(msg, /host st2-a \(10\.0\.0\.11\) cannot be upgraded from 3\.2\.0 to 3\.3\.0: .*bwc-enterprise/);
    });

    it("accepts a configured currentVersion that is where this stack's recorded upgrade started", () => {
        const c = parseConfig({ targetVersion: "3.9.0", hosts: [{ ...base, currentVersion: "2.0.1" }], sshPrivateKey: KEY });
        const f = facts({ packages: { st2: "3.9.0-1" } });
        const [{ host: h, plan: p }] = resolveHosts(c.hosts, new Map([["st2-a", f]]), new Map([["st2-a", [{ from: "2.0.1", to: "3.9.0" }]]]), "3.9.0", []);
        assert.equal(h.currentVersion, "2.0.1");
        assert.equal(p.from, "2.0.1");
    });
});

describe("planFrom: the plan's start stays where the recorded upgrade started", () => {
    const rec = [{ from: "2.0.1", to: "3.9.0" }];
    const stones = plan("2.0.1", "3.9.0").legs.map((l) => l.version);

    it("after the upgrade finished, and at a stepping stone after a failure", () => {
        assert.ok(stones.length > 1, `2.0.1 -> 3.9.0 has a stepping stone: ${stones.join(", ")}`);
        assert.deepEqual(planFrom("3.9.0", "3.9.0", rec), { from: "2.0.1", pinned: true });
        assert.deepEqual(planFrom(stones[0], "3.9.0", rec), { from: "2.0.1", pinned: true });
        assert.deepEqual(planFrom("2.0.1", "3.9.0", rec), { from: "2.0.1", pinned: false });
    });

    it("not for a new target, nor for a host found off the recorded path", () => {
        assert.deepEqual(planFrom("3.9.0", "3.9.0", [{ from: "2.0.1", to: "3.0.1" }]), { from: "3.9.0", pinned: false });
        assert.deepEqual(planFrom("2.2.0", "3.9.0", rec), { from: "2.2.0", pinned: false });
        assert.deepEqual(planFrom("3.8.1", "3.9.0", undefined), { from: "3.8.1", pinned: false });
    });

    it("picks the recorded upgrade towards this target when a failed run left an older chain in the state", () => {
        const both = [{ from: "2.0.1", to: "3.0.1" }, { from: "3.0.1", to: "3.9.0" }];
        assert.deepEqual(planFrom("3.9.0", "3.9.0", both), { from: "3.0.1", pinned: true });
        assert.deepEqual(planFrom("3.0.1", "3.9.0", both), { from: "3.0.1", pinned: false });
    });
});

describe("undo: a target below what the host runs restores its newest backup", () => {
    const base = { name: "st2-a", address: "10.0.0.11", user: "stackstorm" };
    const upgraded = (backup: HostFacts["backup"]) => facts({ packages: { st2: "3.9.0-1", st2web: "3.9.0-3" }, st2Version: "st2 3.9.0, on Python 3.8.10", backup });
    const resolve = (f: HostFacts, recorded: RecordedUpgrade[] = []) => {
        const c = parseConfig({ targetVersion: "3.8.1", hosts: [base], sshPrivateKey: KEY });
        return resolveHosts(c.hosts, new Map([["st2-a", f]]), new Map([["st2-a", recorded]]), "3.8.1", [])[0];
    };

    it("plans the restore chain back to the release the backup was taken at, known at preview", () => {
        const { host, plan: p } = resolve(upgraded({ name: "20261128T031500Z-3.8.1-to-3.9.0", manifest: true }));
        assert.equal(host.currentVersion, "3.9.0");
        assert.deepEqual([p.from, p.to, p.legs.length], ["3.9.0", "3.8.1", 0]);
        assert.deepEqual(p.restore, { backup: "20261128T031500Z-3.8.1-to-3.9.0", takenAt: "3.8.1", upgradedTo: "3.9.0" });
        assert.match(p.notices.map((n) => n.why).join("\n"), /restores the backup 20261128T031500Z-3\.8\.1-to-3\.9\.0 .*restore\.acceptLoss/);
    });

    it("refuses, in preview, every other way down, saying what is possible", () => {
        const c = parseConfig({ targetVersion: "3.8.1", hosts: [base], sshPrivateKey: KEY });
        const err = (f: HostFacts, target = "3.8.1") => resolveError([base], f, target);
        assert.equal(c.targetVersion, "3.8.1");
        assert.match(err(upgraded(null)), /host st2-a \(10\.0\.0\.11\): refusing to go back from 3\.9\.0 to 3\.8\.1: the host has no complete st2-upgrade backup/);
        // Below the newest backup: only that backup's release.
        assert.match(err(upgraded({ name: "20261128T031500Z-3.8.1-to-3.9.0", manifest: true }), "3.4.1"), /newest backup on the host \(20261128T031500Z-3\.8\.1-to-3\.9\.0\) was taken at 3\.8\.1.*targetVersion 3\.8\.1 restores it/);
        // A backup of an upgrade to another release: the host changed since by other means.
        assert.match(err(upgraded({ name: "20261128T031500Z-3.8.1-to-3.8.1", manifest: true })), /taken before an upgrade to 3\.8\.1, but the host runs 3\.9\.0/);
        // st2-upgrade 0.1.0's backups keep no packages: not restorable offline.
        assert.match(err(upgraded({ name: "20261128T031500Z-3.8.1-to-3.9.0", manifest: false })), /made by an older st2-upgrade, without the packages and manifest a restore needs/);
        // Without root the backups cannot be seen: said so, not "no backup".
        assert.match(err({ ...upgraded(null), backup: undefined, root: false }), /its backups could not be read/);
    });

    it("keeps a finished restore's steps (and a half-done one's) keyed on where it started", () => {
        const restored = facts({ backup: { name: "20261128T031500Z-3.8.1-to-3.9.0", manifest: true } });
        const rec = [{ from: "3.9.0", to: "3.8.1" }];
        assert.deepEqual(planFrom("3.8.1", "3.8.1", rec), { from: "3.9.0", pinned: true });
        const { plan: p } = resolve(restored, rec);
        assert.deepEqual([p.from, p.to, p.restore?.backup], ["3.9.0", "3.8.1", "20261128T031500Z-3.8.1-to-3.9.0"]);
        // Its backup rotated away since: nothing of it runs again, the steps stay.
        assert.equal(resolve({ ...restored, backup: null }, rec).plan.restore?.takenAt, "3.8.1");
        // The config written before the upgrade (currentVersion: the backup's release) stays valid.
        const asserted = parseConfig({ targetVersion: "3.8.1", hosts: [{ ...base, currentVersion: "3.8.1" }], sshPrivateKey: KEY });
        const backedUp = upgraded({ name: "20261128T031500Z-3.8.1-to-3.9.0", manifest: true });
        assert.equal(resolveHosts(asserted.hosts, new Map([["st2-a", backedUp]]), new Map(), "3.8.1", [])[0].plan.restore?.takenAt, "3.8.1");
        // Upgrading again after the restore plans a fresh upgrade from what the host runs.
        const c = parseConfig({ targetVersion: "3.9.0", hosts: [base], sshPrivateKey: KEY });
        const [{ plan: again }] = resolveHosts(c.hosts, new Map([["st2-a", restored]]), new Map([["st2-a", rec]]), "3.9.0", []);
        assert.deepEqual([again.from, again.to, again.restore], ["3.8.1", "3.9.0", undefined]);
    });

    it("reads backup folder names, and nothing else, as backups", () => {
        assert.deepEqual(parseBackupName("20261128T031500Z-2.0.1-to-3.0.1"), { backup: "20261128T031500Z-2.0.1-to-3.0.1", takenAt: "2.0.1", upgradedTo: "3.0.1" });
        for (const bad of ["20261128T031500Z-2.0.1-to-3.0.1.partial", "before-restore", "2026-2.0.1-to-3.0.1", "20261128T031500Z-2.0-to-3.0.1"]) assert.equal(parseBackupName(bad), undefined, bad);
    });
});

describe("upgradesFromState", () => {
    it("reads (from, to) per host from the steps' triggers, ignoring other resources", () => {
        const p = "urn:pulumi:e2e::st2-upgrade::st2upgrade:fleet:StackStormFleet$st2upgrade:host:StackStormHost$command:remote:Command::";
        const found = upgradesFromState(
            {
                [`${p}st2-web-1-preflight`]: { type: "command:remote:Command", outputs: { triggers: ["2.0.1", "3.9.0", "preflight"] } },
                [`${p}st2-web-1-packages-3.0.1`]: { type: "command:remote:Command", outputs: { triggers: ["2.0.1", "3.9.0", "packages-3.0.1"] } },
                [`${p}st2-web-1-verify`]: { type: "command:remote:Command", outputs: { triggers: ["1.4.0", "2.0.1", "verify"] } },
                [`${p}st2-db-verify`]: { type: "command:remote:Command", outputs: { triggers: ["3.8.1", "3.9.0", "verify"] } },
                [`${p}other-verify`]: { type: "command:remote:Command", outputs: { triggers: ["3.8.1", "3.9.0", "verify"] } },
                "urn:pulumi:e2e::st2-upgrade::command:remote:Command::st2-x-verify": { type: "command:remote:Command", outputs: { triggers: ["1", "2", "verify"] } },
                "urn:pulumi:e2e::st2-upgrade::pulumi:pulumi:Stack::st2-upgrade-e2e": { type: "pulumi:pulumi:Stack", outputs: {} },
            },
            "st2",
        );
        assert.deepEqual([...found.entries()], [
            ["web-1", [{ from: "2.0.1", to: "3.9.0" }, { from: "1.4.0", to: "2.0.1" }]],
            ["db", [{ from: "3.8.1", to: "3.9.0" }]],
        ]);
    });
});

describe("the last finished run's outputs as the recorded upgrades", () => {
    const two = parseConfig({
        targetVersion: "3.9.0",
        hosts: [
            { name: "a", address: "10.0.0.11", user: "stackstorm" },
            { name: "b", address: "10.0.0.12", user: "stackstorm" },
        ],
        sshPrivateKey: KEY,
    });
    const at = (v: string, over: Partial<HostFacts> = {}) => fakeFacts(v, "ubuntu:20.04", over);
    const outputs = [
        { name: "a", fromVersion: "3.8.1", targetVersion: "3.9.0", steps: [] },
        { name: "b", fromVersion: "3.9.0", targetVersion: "3.9.0" },
    ];

    it("reads (from, to) per host from the hosts output, and nothing from outputs of another shape", () => {
        assert.deepEqual([...upgradesFromOutputs(outputs)!.entries()], [
            ["a", [{ from: "3.8.1", to: "3.9.0" }]],
            ["b", [{ from: "3.9.0", to: "3.9.0" }]],
        ]);
        assert.equal(upgradesFromOutputs(undefined), undefined);
        assert.equal(upgradesFromOutputs({ a: 1 }), undefined);
        assert.deepEqual([...upgradesFromOutputs([{ name: "a", fromVersion: 3 }, null])!.entries()], []);
        // A host held by rollout.throughBatch has no step: its plan is not a recorded upgrade.
        assert.deepEqual([...upgradesFromOutputs([{ ...outputs[0], status: "held", heldUntilBatch: 2 }])!.entries()], []);
    });

    it("stand in for the steps' triggers only when every host runs the target, whole, with a recorded upgrade to it", () => {
        const last = upgradesFromOutputs(outputs)!;
        const settled = new Map([["a", at("3.9.0")], ["b", at("3.9.0")]]);
        assert.equal(settledOn(two.hosts, settled, last, "3.9.0"), true);
        // The pinned start is the one the outputs recorded: nothing is re-planned.
        assert.deepEqual(planFrom("3.9.0", "3.9.0", last.get("a")), { from: "3.8.1", pinned: true });
        // A host not at the target (a failed run, a new target, a restored host): read the steps.
        assert.equal(settledOn(two.hosts, new Map([["a", at("3.8.1")], ["b", at("3.9.0")]]), last, "3.9.0"), false);
        assert.equal(settledOn(two.hosts, settled, last, "3.10.0"), false);
        // Half-installed packages: an interrupted run since the outputs were written.
        assert.equal(settledOn(two.hosts, new Map([["a", at("3.9.0", { unfinished: ["st2"] })], ["b", at("3.9.0")]]), last, "3.9.0"), false);
        // A host the outputs do not know (added since), or no outputs at all (first run).
        assert.equal(settledOn(two.hosts, settled, new Map([["a", last.get("a")!]]), "3.9.0"), false);
        assert.equal(settledOn(two.hosts, settled, undefined, "3.9.0"), false);
        assert.equal(settledOn(two.hosts, new Map([["a", at("3.9.0")]]), last, "3.9.0"), false);
    });
});

describe("readFacts", () => {
    it("fails naming the host, its address, what failed and what to check when the host is unreachable", async () => {
        // Port 1 of the loopback: refused at once, so the test is quick.
        const targets = [{ name: "st2-gone", address: "127.0.0.1", port: 1, user: "stackstorm", key: "hosts[0]", privateKey: KEY }];
        const settings = { ...cfg, ssh: { dialAttempts: 1, dialTimeoutSeconds: 2, requireHostKey: false } };
        const before = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("st2-upgrade-facts-")).length;
        await assert.rejects(readFacts(targets, settings), (e: Error) => {
            assert.ok(e instanceof FactsError);
            assert.match(e.message, /host st2-gone \(stackstorm@127\.0\.0\.1:1, hosts\[0\]\): unreachable: ssh failed after 1 attempt\(s\) of 2 s \(.*refused.*\)\. Check that 127\.0\.0\.1 is reachable/);
            assert.match(e.message, /no host was changed/);
            return true;
        });
        assert.equal(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("st2-upgrade-facts-")).length, before, "the key's temp folder is removed");
    });
});

describe("mapBounded", () => {
    it("keeps order and never runs more than the bound at once", async () => {
        let running = 0;
        let peak = 0;
        const out = await mapBounded([...Array(50).keys()], 4, async (i) => {
            running++;
            peak = Math.max(peak, running);
            await new Promise((r) => setTimeout(r, (i * 7) % 5));
            running--;
            return i * 2;
        });
        assert.deepEqual(out, [...Array(50).keys()].map((i) => i * 2));
        assert.equal(peak, 4);
    });
});
