// Undo end to end (issue 11): hosts upgraded by the program, then the stack's target set back to the
// release they ran: `pulumi up` restores each host's pre-upgrade backup (components/scripts/restore.ts),
// with the repository switched off, refusing first while work since the backup would be lost.
// Prefixes `rs` (apt, 3.0.1 <-> 3.2.0 with Mistral on Ubuntu 16.04), `rsf` (a failure mid-restore);
// the yum lane is restore-yum.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sshRun } from "../../lab/support/lab";
import { inventory, type Inventory } from "../../lab/support/inventory";
import { assertSecondRunChangesNothing, labConfig, labSuite, servicePids, show } from "../../lab/support/program";
import { assertAsBefore, reports, restoreChain, setTarget } from "../../lab/support/restore";

const MINUTES = 60_000;

describe("undo 3.2.0 -> 3.0.1 on two Ubuntu 16.04 hosts with Mistral (apt)", { timeout: 40 * MINUTES }, () => {
    const lab = labSuite({ hosts: 2, version: "3.0.1", prefix: "rs" }, (hosts) => labConfig(hosts, { targetVersion: "3.2.0", rollout: { batchSize: 2 } }));
    const seeded = new Map<string, Inventory>();

    it("upgrades both to 3.2.0, keeping each host's packages in its backup", () => {
        for (const h of lab.hosts) seeded.set(h.name, inventory(h));
        const r = lab.stack.up();
        assert.equal(r.code, 0, show(r));
        for (const rep of reports(lab.stack)) {
            assert.equal(rep.verifiedVersion, "3.2.0");
            const h = lab.hosts.find((x) => x.name === rep.name)!;
            const kept = sshRun(h, `sudo cat '${rep.backupPath}/packages.tsv'`).stdout;
            assert.match(kept, /^st2\t3\.0\.1-1\tpackages\/st2_3\.0\.1-1_[a-z0-9]+\.deb$/m, kept);
            assert.match(kept, /^st2mistral\t3\.0\.1-1\t/m, kept);
            const manifest = JSON.parse(sshRun(h, `sudo cat '${rep.backupPath}/manifest.json'`).stdout) as { version: string; upgradeTo: string; holds: Record<string, string> };
            assert.deepEqual([manifest.version, manifest.upgradeTo], ["3.0.1", "3.2.0"]);
            assert.equal(manifest.holds["etc_st2.tar.gz"], "/etc/st2");
            assert.equal(manifest.holds["var_lib_st2-double.tar.gz"], "/var/lib/st2-double");
            assert.match(manifest.holds["mistral.pgdump"], /Mistral database/);
        }
    });

    it("refuses the restore in preflight while a key written since would be lost, changing nothing on either host", () => {
        const [h1, h2] = lab.hosts;
        assert.equal(sshRun(h1, "sudo st2 key set written.after.upgrade yes").code, 0);
        const pids = lab.hosts.map(servicePids);
        setTarget(lab.stack, "3.0.1");
        const preview = lab.stack.pulumi(["preview", "--diff"]);
        assert.equal(preview.code, 0, show(preview));
        for (const step of restoreChain(h1.name)) assert.match(preview.stdout, new RegExp(`\\+ command:remote:Command: \\(create\\)\\n\\s+\\[urn=[^\\]]*::${step}\\]`), `preview creates ${step}`);
        assert.match(preview.stdout, /\[st2-upgrade rs1\/restore-preflight\] check the backup \d{8}T\d{6}Z-3\.0\.1-to-3\.2\.0 and what a restore would lose/);

        const refused = lab.stack.up();
        assert.notEqual(refused.code, 0, show(refused));
        const text = refused.stdout + refused.stderr;
        assert.match(text, /\[st2-upgrade rs1\/restore-preflight\] ERROR: the restore would lose work done since the backup \S+: 1 key\(s\) written and 0 changed since, 0 Mistral execution\(s\) since\. Nothing was changed\./);
        assert.match(text, /restore\.acceptLoss true/);
        assert.ok(!refused.ran.some((n) => n.endsWith("-restore-stop")), `nothing stopped: ${refused.ran.join(", ")}`);
        assert.deepEqual(lab.hosts.map(servicePids), pids, "services neither stopped nor restarted");
        for (const h of [h1, h2]) assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.2\.0/);
    });

    it("with restore.acceptLoss and no repository, both hosts run 3.0.1 again with everything of before", () => {
        const [h1] = lab.hosts;
        // The restore needs nothing but the backup: no StackStorm repository at all.
        for (const h of lab.hosts) assert.equal(sshRun(h, "sudo rm -f /etc/apt/sources.list.d/st2.list && sudo apt-get update -qq && ! apt-cache madison st2 | grep -q 3.0.1").code, 0);
        const set = lab.stack.pulumi(["config", "set", "--path", "st2-upgrade:restore.acceptLoss", "true", "--type", "bool"]);
        assert.equal(set.code, 0, show(set));
        const r = lab.stack.up();
        assert.equal(r.code, 0, show(r));
        for (const [i, h] of lab.hosts.entries()) {
            // rs2's preflight passed in the refused run: it is not run again.
            assert.deepEqual(r.ran.filter((n) => n.startsWith(`st2-${h.name}-`)), restoreChain(h.name).slice(i));
            assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.0\.1,/);
            assertAsBefore(h, seeded.get(h.name)!, inventory(h));
        }
        assert.notEqual(sshRun(h1, "sudo st2 key get written.after.upgrade").code, 0, "the key written since the backup is gone");
        const out = reports(lab.stack);
        for (const rep of out) {
            assert.equal(rep.status, "restored");
            assert.equal(rep.verifiedVersion, "3.0.1");
            assert.match(rep.restoredFrom ?? "", /^\d{8}T\d{6}Z-3\.0\.1-to-3\.2\.0$/);
        }
        assert.deepEqual(out.find((x) => x.name === h1.name)!.restoreLoss, { keysAdded: 1, keysChanged: 0, mistralExecutions: 0 });
        // What the restore replaced is kept beside the backup.
        assert.equal(sshRun(h1, `sudo test -s '/var/backups/st2-upgrade/before-restore/${out[0].restoredFrom}/mistral.pgdump'`).code, 0);
    });

    it("changes nothing on a second up", () => {
        assertSecondRunChangesNothing(lab.stack, lab.hosts);
    });
});

describe("a restore that fails half way resumes at the failed step; the host can be upgraded again", { timeout: 30 * MINUTES }, () => {
    const lab = labSuite({ hosts: 1, version: "3.0.1", prefix: "rsf" }, (hosts) => labConfig(hosts, { targetVersion: "3.2.0" }));

    it("fails installing the old packages with services stopped, then finishes on the next up", () => {
        const [h] = lab.hosts;
        const before = inventory(h);
        const up = lab.stack.up();
        assert.equal(up.code, 0, show(up));
        setTarget(lab.stack, "3.0.1");
        // The double's preinst refuses to unpack while this file exists (lab/double/README.md, faults).
        assert.equal(sshRun(h, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/preinst-fail").code, 0);
        const failed = lab.stack.up();
        assert.notEqual(failed.code, 0, show(failed));
        assert.match(failed.stdout + failed.stderr, /\[st2-upgrade rsf1\/restore-packages\] ERROR: installing the backup's packages failed/);
        assert.deepEqual(failed.ran, restoreChain(h.name).slice(0, 2));

        assert.equal(sshRun(h, "sudo rm -f /etc/st2-double/faults/preinst-fail").code, 0);
        const resumed = lab.stack.up();
        assert.equal(resumed.code, 0, show(resumed));
        assert.deepEqual(resumed.ran, restoreChain(h.name).slice(2), "resumes at restore-packages");
        assertAsBefore(h, before, inventory(h));
    });

    it("upgrades the restored host again when the target goes back up, with a new backup", () => {
        const [h] = lab.hosts;
        const [restored] = reports(lab.stack);
        setTarget(lab.stack, "3.2.0");
        const r = lab.stack.up();
        assert.equal(r.code, 0, show(r));
        assert.deepEqual(r.ran.slice(0, 3), ["st2-rsf1-preflight", "st2-rsf1-fetch", "st2-rsf1-backup"]);
        assert.equal(r.ran[r.ran.length - 1], "st2-rsf1-verify");
        assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.2\.0/);
        const [again] = reports(lab.stack);
        assert.equal(again.status, "upgraded");
        assert.notEqual(again.backupPath, `/var/backups/st2-upgrade/${restored.restoredFrom}`, "a backup of its own");
    });
});
