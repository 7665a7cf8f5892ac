// The yum lane, end to end: the real program and the real engine against lab hosts of the RHEL
// family (os-release of Rocky 8, the el image: Debian's dnf 4.14 installed as `yum`, rpm 4.18 with
// its database in /var/lib/rpm, the double as rpms from the lab's dnf repository). Nothing is mocked:
// the yum strategy's scripts meet real dnf and rpm, scriptlets included.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureToolchain } from "../../lab/support/engine";
import { inventory, type Inventory } from "../../lab/support/inventory";
import { labDown, labUp, sshRun, type LabHost } from "../../lab/support/lab";
import { assertNothingLost, assertSecondRunChangesNothing, labConfig, programStack, show, type ProgramStack } from "../../lab/support/program";

const MINUTES = 60_000;
/** The double's rpm revisions (lab/double/versions.tsv): every package its own, as on packagecloud. */
const AT_390 = "st2 3.9.0-1\nst2web 3.9.0-3\nst2chatops 3.9.0-2";
const AT_381 = "st2 3.8.1-1\nst2web 3.8.1-3\nst2chatops 3.8.1-2";
const RPM_Q = `rpm -q --qf '%{NAME} %{VERSION}-%{RELEASE}\\n' st2 st2web st2chatops`;


function stepsRan(ran: string[], host: LabHost): string[] {
    return ran.filter((n) => n.startsWith(`st2-${host.name}-`)).map((n) => n.slice(`st2-${host.name}-`.length));
}

describe("yum: 3.8.1 -> 3.9.0 on two Rocky 8 hosts", { timeout: 30 * MINUTES }, () => {
    let hosts: LabHost[];
    let stack: ProgramStack;
    const seeded = new Map<string, Inventory>();

    before(() => {
        ensureToolchain();
        hosts = labUp({ hosts: 2, version: "3.8.1", os: "rocky:8", prefix: "yum" });
        for (const h of hosts) seeded.set(h.name, inventory(h));
        stack = programStack(labConfig(hosts, { targetVersion: "3.9.0", rollout: { batchSize: 2 } }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "yum" });
    });

    it("are RHEL-family hosts: Rocky 8 os-release, yum is dnf, StackStorm in the rpm database and not in dpkg's", () => {
        for (const h of hosts) {
            const r = sshRun(h, `. /etc/os-release && echo "$ID $VERSION_ID"; readlink -f /usr/bin/yum; yum --version | head -n 1; ${RPM_Q}; dpkg-query -W st2 2>&1 || true`);
            assert.equal(r.code, 0, r.stderr);
            const [os, yum, dnf, ...rest] = r.stdout.trim().split("\n");
            assert.equal(os, "rocky 8.10");
            assert.equal(yum, "/usr/bin/dnf-3");
            assert.match(dnf, /^4\.14\./);
            assert.equal(rest.slice(0, 3).join("\n"), AT_381);
            assert.match(rest[3], /no packages found matching st2/);
        }
    });

    it("upgrades both with the yum strategy through the engine, pinned per package, losing nothing", () => {
        // The first host's operator locked st2 and st2web where they are (dnf's versionlock plugin).
        const lock = sshRun(hosts[0], "sudo yum -q -y versionlock add st2 st2web >/dev/null && sudo yum -q versionlock list");
        assert.deepEqual(lock.stdout.trim().split("\n"), ["st2-0:3.8.1-1.*", "st2web-0:3.8.1-3.*"], lock.stderr);
        const r = stack.up();
        assert.equal(r.code, 0, show(r));
        // The upgrade went through the lock, and the lock now holds the new versions.
        assert.deepEqual(sshRun(hosts[0], "sudo yum -q versionlock list").stdout.trim().split("\n"), ["st2-0:3.9.0-1.*", "st2web-0:3.9.0-3.*"]);
        assert.equal(sshRun(hosts[1], "sudo yum -q versionlock list").stdout.trim(), "");
        for (const h of hosts) {
            assert.deepEqual(stepsRan(r.ran, h), ["preflight", "fetch", "backup", "stop", "packages-3.9.0", "migrate-3.9-database-tls", "start", "verify"]);
            assert.equal(sshRun(h, RPM_Q).stdout.trim(), AT_390);
            assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.9\.0, on Python/);
            // %config(noreplace): the operator's edited st2.conf stays, the packaged one lands beside it.
            const conf = sshRun(h, "grep -c '^allow_origin' /etc/st2/st2.conf; test -f /etc/st2/st2.conf.rpmnew && echo rpmnew");
            assert.equal(conf.stdout, "1\nrpmnew\n");
            // dnf did the work (its history), apt and dpkg did not.
            assert.match(sshRun(h, "sudo yum -q history list st2").stdout, /[Uu]pgrade/);
            assert.equal(sshRun(h, "dpkg-query -W st2 st2web st2chatops >/dev/null 2>&1 || echo none").stdout, "none\n");
            const after = inventory(h);
            assert.equal(after.st2_version, "3.9.0");
            assertNothingLost(h, seeded.get(h.name)!, after);
        }
        const out = stack.outputs() as { hosts: { name: string; verifiedVersion: string }[] };
        for (const h of hosts) assert.equal(out.hosts.find((x) => x.name === h.name)?.verifiedVersion, "3.9.0");
    });

    it("changes nothing on a second up, and only reads the hosts' facts", () => {
        assertSecondRunChangesNothing(stack, hosts);
    });
});

describe("yum: a failing scriptlet mid-upgrade, then resume", { timeout: 30 * MINUTES }, () => {
    let hosts: LabHost[];
    let stack: ProgramStack;

    before(() => {
        ensureToolchain();
        hosts = labUp({ hosts: 2, version: "3.8.1", os: "rocky:8", prefix: "ry" });
        stack = programStack(labConfig(hosts, { targetVersion: "3.9.0", rollout: { batchSize: 2, stopOnFirstFailure: false } }));
    });
    after(() => {
        stack?.cleanup();
        labDown({ prefix: "ry" });
    });

    it("fails the packages step of each host clearly, and the next up resumes there and finishes", () => {
        const [pre, post] = hosts;
        const before = new Map(hosts.map((h) => [h.name, inventory(h)]));
        // ry1: st2's %pre fails (rpm keeps 3.8.1, dnf reports the transaction failed); ry2: st2's
        // %post fails (rpm installs 3.9.0 and only says the scriptlet failed).
        sshRun(pre, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/preinst-fail");
        sshRun(post, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/postinst-fail");
        const failed = stack.up();
        assert.notEqual(failed.code, 0, show(failed));
        const text = failed.stdout + failed.stderr;
        for (const h of hosts) {
            assert.deepEqual(stepsRan(failed.ran, h), ["preflight", "fetch", "backup", "stop"]);
            assert.match(text, new RegExp(`\\[st2-upgrade ${h.name}/packages-3\\.9\\.0\\] ERROR: the package upgrade to 3\\.9\\.0 failed`));
            assertNothingLost(h, before.get(h.name)!, inventory(h));
        }
        assert.match(text, /injected failure \(fault preinst-fail\)/);
        assert.match(text, /injected failure \(fault postinst-fail\)/);
        assert.match(text, /a package scriptlet failed \(see above\) though yum exited 0: the next run reinstalls st2-3\.9\.0-1\.\w+ to run it again/);
        assert.match(sshRun(pre, "rpm -q st2").stdout, /^st2-3\.8\.1-1\./, "%pre failed: the old st2 stays");
        assert.match(sshRun(post, "rpm -q st2").stdout, /^st2-3\.9\.0-1\./, "%post failed: the new files are in");

        const resumed = stack.up();
        assert.equal(resumed.code, 0, show(resumed));
        for (const h of hosts) {
            assert.deepEqual(stepsRan(resumed.ran, h), ["packages-3.9.0", "migrate-3.9-database-tls", "start", "verify"], `${h.name} resumes at the failed step`);
            assert.equal(sshRun(h, RPM_Q).stdout.trim(), AT_390);
            const after = inventory(h);
            assert.equal(after.st2_version, "3.9.0");
            assertNothingLost(h, before.get(h.name)!, after);
        }
        assert.match(resumed.stdout, /\[st2-upgrade ry2\/packages-3\.9\.0\] reinstalling st2-3\.9\.0-1\.\w+: a scriptlet of theirs failed in an earlier run/);
        assert.equal(sshRun(post, "sudo test -e /var/lib/st2-upgrade/yum-reinstall || echo gone").stdout, "gone\n");
    });
});
