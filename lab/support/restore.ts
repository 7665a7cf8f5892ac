// What the undo e2e tests (tests/e2e/restore*.test.ts) share: the restore chain's step names, the
// host reports, and "everything of before is back".
import assert from "node:assert/strict";
import type { LabHost } from "./lab";
import type { Inventory } from "./inventory";
import { auditLogsKept, show, type ProgramStack } from "./program";

export interface Report {
    name: string;
    status: string;
    fromVersion: string;
    targetVersion: string;
    verifiedVersion?: string;
    backupPath?: string;
    restoredFrom?: string;
    restoreLoss?: { keysAdded: number; keysChanged: number; mistralExecutions: number };
    steps: { name: string }[];
}

export const reports = (stack: ProgramStack) => (stack.outputs() as { hosts: Report[] }).hosts;

export function setTarget(stack: ProgramStack, version: string): void {
    const r = stack.pulumi(["config", "set", "st2-upgrade:targetVersion", version]);
    assert.equal(r.code, 0, show(r));
}

/**
 * Everything of `before` is back exactly: keys, secrets, packs, Mistral, and the audit logs only grew.
 * Executions: those of before and `smokeRuns` more (restore-verify's; the upgrade's too when the
 * double's database was not in the backup, so not put back).
 */
export function assertAsBefore(host: LabHost, before: Inventory, after: Inventory, smokeRuns = 1): void {
    assert.equal(after.st2_version, before.st2_version, `${host.name}: st2 version`);
    assert.deepEqual(after.keys, before.keys, `${host.name}: the datastore as before the upgrade`);
    assert.deepEqual(after.packs, before.packs, `${host.name}: packs`);
    assert.equal(after.executions.total, before.executions.total + smokeRuns, `${host.name}: executions`);
    assert.deepEqual(after.mistral, before.mistral, `${host.name}: Mistral revision and rows`);
    assert.deepEqual(auditLogsKept(host, before), [], `${host.name}: audit logs only grew`);
}

export const restoreChain = (name: string) =>
    ["restore-preflight", "restore-stop", "restore-packages", "restore-files", "restore-databases", "restore-start", "restore-datastore", "restore-verify"].map((s) => `st2-${name}-${s}`);

