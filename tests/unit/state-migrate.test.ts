// The state migration (tools/state-shape.ts) on a state written by st2-upgrade 0.1.0's provider
// (tests/fixtures/state-0.1.0.json) and on the real provider's recorded state: the result has the
// real shape, step by step; a real-shaped state is left as it is; anything unrecorded is refused.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { migrateExport, MigrationRefused, REMOTE_COMMAND, type Export } from "../../tools/state-shape";
import { commands, FIXTURE_HOST, isSecret, plaintextOf, readFixture, realStateInClear, stepOf } from "../support/state-fixture";

type Obj = Record<string, unknown>;
const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** The shape of a command resource: input and output keys, connection keys, which are secrets. */
function shape(res: Obj): Obj {
    const connShape = (v: unknown): Obj | undefined => {
        if (v === undefined) return undefined;
        const inner = plaintextOf(v as never) as Obj;
        return { secret: isSecret(v), keys: Object.keys(inner).sort(), nestedSecrets: Object.keys(inner).filter((k) => isSecret(inner[k])).sort() };
    };
    const inputs = res.inputs as Obj;
    const outputs = res.outputs as Obj;
    return {
        inputs: Object.keys(inputs).sort(),
        outputs: Object.keys(outputs).sort(),
        inputConnection: connShape(inputs.connection),
        outputConnection: connShape(outputs.connection),
        addPreviousOutputInEnv: inputs.addPreviousOutputInEnv,
    };
}

/** The first recorded host of the real state, step by step. */
function realShapes(): Map<string, Obj> {
    const shapes = new Map<string, Obj>();
    for (const res of commands(realStateInClear())) {
        if (String(res.urn).includes("::st2-st2h1-")) shapes.set(stepOf(String(res.urn), "st2h1"), shape(res));
    }
    return shapes;
}

function refused(e: Export, urnPart: string, field: string): void {
    assert.throws(() => migrateExport(e), (err: unknown) => {
        assert.ok(err instanceof MigrationRefused, String(err));
        assert.ok(err.urn.includes(urnPart), `urn ${err.urn} should name ${urnPart}`);
        assert.equal(err.field, field);
        assert.match(err.message, /Nothing was changed/);
        return true;
    });
}

describe("state migration: 0.1.0 -> the real command provider's shape", () => {
    it("the fixture is 0.1.0's shape: logging written by Check, the key not a nested secret", () => {
        const cmds = commands(readFixture());
        assert.ok(cmds.length >= 8, `only ${cmds.length} commands in the fixture`);
        for (const res of cmds) {
            const s = shape(res);
            assert.ok((s.inputs as string[]).includes("logging"), String(res.urn));
            assert.deepEqual((s.inputConnection as Obj).nestedSecrets, []);
        }
    });

    it("every step comes out in the shape the real provider wrote for the same step", () => {
        const real = realShapes();
        const { exported, changes } = migrateExport(readFixture());
        const cmds = commands(exported);
        // Per command: logging dropped, inputs.connection and outputs.connection rewrapped.
        assert.equal(changes.length, cmds.length * 3);
        for (const res of cmds) {
            const step = stepOf(String(res.urn), FIXTURE_HOST);
            const want = real.get(step);
            assert.ok(want, `the recording has no step ${step}`);
            assert.deepEqual(shape(res), want, step);
        }
    });

    it("keeps everything else byte for byte (other resources, ids, stdout, create, triggers, options)", () => {
        const before = readFixture();
        const { exported } = migrateExport(before);
        const a = before.deployment.resources ?? [];
        const b = exported.deployment.resources ?? [];
        assert.equal(b.length, a.length);
        for (let i = 0; i < a.length; i++) {
            const strip = (r: Obj): Obj => {
                const c = clone(r);
                for (const s of ["inputs", "outputs"]) {
                    const p = c[s] as Obj | undefined;
                    if (!p) continue;
                    delete p.logging;
                    if (p.connection) {
                        const conn = plaintextOf(p.connection as never) as Obj;
                        if (isSecret(conn.privateKey)) conn.privateKey = plaintextOf(conn.privateKey as never);
                        p.connection = conn;
                    }
                }
                return c;
            };
            assert.deepEqual(strip(b[i]), strip(a[i]), String(a[i].urn));
        }
        assert.deepEqual({ ...exported.deployment, resources: [] }, { ...before.deployment, resources: [] });
    });

    it("is idempotent: a migrated state, and the real provider's recorded state, are left as they are", () => {
        const once = migrateExport(readFixture()).exported;
        const twice = migrateExport(clone(once));
        assert.deepEqual(twice.changes, []);
        assert.deepEqual(twice.exported, once);
        const real = realStateInClear();
        const r = migrateExport(clone(real));
        assert.deepEqual(r.changes, []);
        assert.deepEqual(r.exported, real);
    });

    it("keeps logging and addPreviousOutputInEnv when the program gave them", () => {
        const e = readFixture();
        const res = commands(e)[0];
        (res.propertyDependencies as Obj).logging = [];
        const { exported, changes } = migrateExport(e);
        const after = commands(exported)[0];
        assert.equal((after.inputs as Obj).logging, "stdoutAndStderr");
        assert.ok(!changes.some((c) => c.urn === res.urn && /logging/.test(c.what)));
    });

    it("never prints a secret in what it reports", () => {
        const { changes } = migrateExport(readFixture());
        const text = JSON.stringify(changes);
        assert.doesNotMatch(text, /PRIVATE KEY|lab private key|plaintext/);
    });

    describe("refuses what it has no recording of, naming the resource and the field", () => {
        const first = (e: Export): Obj => commands(e).find((r) => r.type === REMOTE_COMMAND)!;
        const withConnection = (e: Export, edit: (c: Obj) => void): Export => {
            const res = first(e);
            const conn = plaintextOf((res.inputs as Obj).connection as never) as Obj;
            edit(conn);
            (res.inputs as Obj).connection = { ...((res.inputs as Obj).connection as Obj), plaintext: JSON.stringify(conn) };
            return e;
        };

        it("an input the SDK does not have", () => {
            const e = readFixture();
            (first(e).inputs as Obj).hostKeyCheck = true;
            refused(e, "-preflight", "inputs.hostKeyCheck");
        });
        it("an output the provider does not write", () => {
            const e = readFixture();
            (first(e).outputs as Obj).exitCode = 0;
            refused(e, "-preflight", "outputs.exitCode");
        });
        it("a connection field without a recording (password, proxy)", () => {
            refused(withConnection(readFixture(), (c) => (c.password = "x")), "-preflight", "inputs.connection.password");
            refused(withConnection(readFixture(), (c) => (c.proxy = { host: "b" })), "-preflight", "inputs.connection.proxy");
        });
        it("logging not given by the program and not 0.1.0's default", () => {
            const e = readFixture();
            (first(e).inputs as Obj).logging = "none";
            refused(e, "-preflight", "inputs.logging");
        });
        it("a secret still encrypted (an export without --show-secrets)", () => {
            const e = readFixture();
            (first(e).inputs as Obj).connection = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:abc" };
            refused(e, "-preflight", "inputs.connection");
        });
        it("no propertyDependencies (given inputs cannot be told from defaults)", () => {
            const e = readFixture();
            delete first(e).propertyDependencies;
            refused(e, "-preflight", "propertyDependencies");
        });
        it("another command type, another provider version, pending operations", () => {
            const e = readFixture();
            first(e).type = "command:remote:CopyToRemote";
            refused(e, "-preflight", "type");
            const v = readFixture();
            const provider = (v.deployment.resources ?? []).find((r) => r.type === "pulumi:providers:command")!;
            (provider.inputs as Obj).version = "1.0.1";
            refused(v, "pulumi:providers:command", "inputs.version");
            const p = readFixture();
            p.deployment.pending_operations = [{ type: "creating" }];
            refused(p, "(the export)", "pending_operations");
        });
    });
});
