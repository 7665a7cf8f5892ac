// What must survive an upgrade, as the lab double's inventory (lab/double/inventory.sh) reports it,
// and the comparison of two inventories. Shared by the e2e tests (lab/support/program.ts) and the
// bench (bench/measure.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { LAB_PROJECT_ROOT, sshRun, sshRunAsync, type LabHost, type SshResult } from "./lab";

export interface Inventory {
    st2_version: string;
    keys: {
        total: number;
        by_logical_scope: Record<string, number>;
        names: Record<string, string[]>;
        value_digest: Record<string, string>;
        secrets: { total: number; decryptable: number; names: string[]; undecryptable: string[] };
    };
    packs: { registered: string[]; on_disk: string[] };
    executions: { total: number };
    mistral?: { alembic_revision: string; rows: Record<string, number> } | null;
    audit_logs: Record<string, { lines: number; sha256: string; size: number }>;
}

const script = () => fs.readFileSync(path.join(LAB_PROJECT_ROOT, "lab/double/inventory.sh"), "utf8");

function parsed(host: LabHost, r: SshResult): Inventory {
    if (r.code !== 0) throw new Error(`inventory of ${host.name} failed (${r.code}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as Inventory;
}

export function inventory(host: LabHost): Inventory {
    return parsed(host, sshRun(host, "sudo bash -s", { input: script() }));
}

export async function inventoryAsync(host: LabHost): Promise<Inventory> {
    return parsed(host, await sshRunAsync(host, "sudo bash -s", { input: script() }));
}

/**
 * What `after` lost of `before`: keys (names, scopes, values, secrets) must be the same, packs,
 * executions and Mistral rows may only grow. Empty when nothing was lost. (Audit logs are checked on
 * the host: their first bytes must be unchanged.)
 */
export function lossesSince(before: Inventory, after: Inventory): string[] {
    const problems: string[] = [];
    const same = (what: string, a: unknown, b: unknown): void => {
        if (!isDeepStrictEqual(a, b)) problems.push(`${what} changed`);
    };
    same("key names", before.keys.names, after.keys.names);
    same("keys by scope", before.keys.by_logical_scope, after.keys.by_logical_scope);
    same("key values", before.keys.value_digest, after.keys.value_digest);
    same("secrets", before.keys.secrets, after.keys.secrets);
    for (const pack of before.packs.registered) if (!after.packs.registered.includes(pack)) problems.push(`pack ${pack} gone`);
    if (after.executions.total < before.executions.total) problems.push(`executions ${before.executions.total} -> ${after.executions.total}`);
    for (const [table, rows] of Object.entries(before.mistral?.rows ?? {})) {
        const now = after.mistral?.rows[table] ?? 0;
        if (now < rows) problems.push(`Mistral table ${table}: ${rows} rows -> ${now}`);
    }
    return problems;
}
