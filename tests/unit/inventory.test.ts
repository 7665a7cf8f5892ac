// The comparison that proves an upgrade lost nothing (lab/support/inventory.ts), used by the e2e
// tests and the bench: keys must stay the same, packs, executions and Mistral rows may only grow.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lossesSince, type Inventory } from "../../lab/support/inventory";

const BEFORE: Inventory = {
    st2_version: "3.8.1",
    keys: {
        total: 2,
        by_logical_scope: { system: 1, user: 1 },
        names: { system: ["a"], user: ["b"] },
        value_digest: { a: "d1", b: "d2" },
        secrets: { total: 1, decryptable: 1, names: ["b"], undecryptable: [] },
    },
    packs: { registered: ["core", "my_pack"], on_disk: ["core", "my_pack"] },
    executions: { total: 10 },
    mistral: { alembic_revision: "abc", rows: { executions_v2: 5 } },
    audit_logs: {},
};

const changed = (edit: (i: Inventory) => void): Inventory => {
    const after = structuredClone(BEFORE);
    edit(after);
    return after;
};

describe("lossesSince", () => {
    it("finds nothing lost when nothing changed, or when only what may grow grew", () => {
        assert.deepEqual(lossesSince(BEFORE, structuredClone(BEFORE)), []);
        const grown = changed((i) => {
            i.st2_version = "3.9.0";
            i.packs.registered.push("new_pack");
            i.executions.total = 12;
            i.mistral!.rows.executions_v2 = 6;
            i.keys.names = { user: ["b"], system: ["a"] };
        });
        assert.deepEqual(lossesSince(BEFORE, grown), []);
    });

    it("names each kind of loss", () => {
        assert.deepEqual(lossesSince(BEFORE, changed((i) => (i.keys.value_digest.a = "other"))), ["key values changed"]);
        assert.deepEqual(lossesSince(BEFORE, changed((i) => (i.keys.names.user = []))), ["key names changed"]);
        assert.deepEqual(lossesSince(BEFORE, changed((i) => (i.keys.by_logical_scope.user = 0))), ["keys by scope changed"]);
        assert.deepEqual(lossesSince(BEFORE, changed((i) => (i.keys.secrets.decryptable = 0))), ["secrets changed"]);
        assert.deepEqual(lossesSince(BEFORE, changed((i) => i.packs.registered.pop())), ["pack my_pack gone"]);
        assert.deepEqual(lossesSince(BEFORE, changed((i) => (i.executions.total = 3))), ["executions 10 -> 3"]);
        assert.deepEqual(lossesSince(BEFORE, changed((i) => (i.mistral = null))), ["Mistral table executions_v2: 5 rows -> 0"]);
    });
});
