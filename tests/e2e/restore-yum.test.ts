// Undo on the yum lane (issue 11): a Rocky 8 host upgraded 3.8.1 -> 3.9.0 by the program goes back
// to 3.8.1 from its backup's rpms, with the repository disabled. Prefix `rsy`. See restore.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sshRun } from "../../lab/support/lab";
import { inventory } from "../../lab/support/inventory";
import { labConfig, labSuite, show } from "../../lab/support/program";
import { assertAsBefore, reports, restoreChain, setTarget } from "../../lab/support/restore";

const MINUTES = 60_000;

describe("undo 3.9.0 -> 3.8.1 on a Rocky 8 host (yum)", { timeout: 30 * MINUTES }, () => {
    // As on a real host whose MongoDB is not among backup.extraPaths: the datastore comes back from
    // the backup's export alone (restore-datastore), the double's database files are not restored.
    const lab = labSuite({ hosts: 1, version: "3.8.1", os: "rocky:8", prefix: "rsy" }, (hosts) =>
        labConfig(hosts, { targetVersion: "3.9.0", backup: { extraPaths: [] }, restore: { acceptLoss: true } }),
    );

    it("restores the backup's rpms with the repository off, and the datastore from its export", () => {
        const [h] = lab.hosts;
        const before = inventory(h);
        const up = lab.stack.up();
        assert.equal(up.code, 0, show(up));
        assert.match(sshRun(h, "st2 --version 2>&1").stdout, /^st2 3\.9\.0/);
        assert.equal(sshRun(h, "sudo sed -i 's/^enabled=1/enabled=0/' /etc/yum.repos.d/st2-lab.repo").code, 0);
        // Work since the backup: a new key and a changed one, which the restore takes back.
        const [changed] = before.keys.names.system;
        assert.equal(sshRun(h, `sudo st2 key set written.after.upgrade yes && sudo st2 key set '${changed}' changed-after-upgrade`).code, 0);
        setTarget(lab.stack, "3.8.1");
        const r = lab.stack.up();
        assert.equal(r.code, 0, show(r));
        assert.deepEqual(r.ran, restoreChain(h.name));
        assert.match(sshRun(h, "rpm -q st2").stdout, /^st2-3\.8\.1-1\./);
        // The upgrade's smoke run stays (its database was not restored), with restore-verify's.
        assertAsBefore(h, before, inventory(h), 2);
        const [rep] = reports(lab.stack);
        assert.equal(rep.status, "restored");
        assert.deepEqual(rep.restoreLoss, { keysAdded: 1, keysChanged: 1, mistralExecutions: 0 });
    });
});
