// The rule StackStormHost relies on, checked with the real engine and provider: a step is keyed on
// its triggers (from, to, step) and ignores changes to its script text and connection. So a newer
// st2-upgrade (different script text) re-runs nothing that succeeded, while a new target replaces
// the step and the replacement runs the NEW script, not the ignored old one.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { ensureToolchain, makeTempStack } from "../../lab/support/engine";

test("a step re-runs for new triggers with its new script, and never for a script change alone", { timeout: 20 * 60_000 }, (t) => {
    ensureToolchain();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2-step-keys-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const ran = path.join(dir, "ran.txt");
    const program = (script: string, target: string) =>
        [
            'import * as command from "@pulumi/command";',
            `new command.local.Command("step", { create: ${JSON.stringify(`echo ${script} >> '${ran}'`)}, triggers: ["2.0.1", ${JSON.stringify(target)}, "stop"] },`,
            '    { ignoreChanges: ["create", "connection"] });',
            "",
        ].join("\n");
    const stack = makeTempStack({
        files: {
            "Pulumi.yaml": "name: step-keys\nruntime: nodejs\nmain: index.ts\n",
            "package.json": "{}",
            "tsconfig.json": JSON.stringify({ compilerOptions: { strict: true, module: "commonjs", moduleResolution: "node", target: "ES2022", esModuleInterop: true }, files: ["index.ts"] }),
            "index.ts": program("script-v1-target-3.8.1", "3.8.1"),
        },
    });
    t.after(() => stack.cleanup());
    const up = () => {
        const r = stack.pulumi(["up", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        return fs.readFileSync(ran, "utf8").trim().split("\n");
    };

    assert.deepEqual(up(), ["script-v1-target-3.8.1"]);
    fs.writeFileSync(path.join(stack.dir, "index.ts"), program("script-v2-target-3.8.1", "3.8.1"));
    const preview = stack.pulumi(["preview", "--expect-no-changes"]);
    assert.equal(preview.code, 0, `a script change alone must not be a change:\n${preview.stdout}${preview.stderr}`);
    assert.deepEqual(up(), ["script-v1-target-3.8.1"]);
    fs.writeFileSync(path.join(stack.dir, "index.ts"), program("script-v2-target-3.9.0", "3.9.0"));
    assert.deepEqual(up(), ["script-v1-target-3.8.1", "script-v2-target-3.9.0"]);
});
