// A real `pulumi up` with the project's toolchain (scripts/toolchain.sh): a TypeScript program whose
// @pulumi/command local.Command appends a line to a file runs it exactly once, and a second `up`
// changes nothing. Fails (never skips) when the engine cannot be provided.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";

import { ensureToolchain, makeTempStack, PROJECT_ROOT } from "../../lab/support/engine";

function linesOf(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "") : [];
}

function projectDependencies(): Record<string, string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  return pkg.dependencies ?? {};
}

function show(what: string, r: { code: number; stdout: string; stderr: string }): string {
  return `${what} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

test("pulumi up runs a local.Command once and a second up changes nothing", { timeout: 30 * 60_000 }, (t) => {
  // A cold toolchain build takes minutes; a failure here fails the test with the reason.
  ensureToolchain();

  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "st2-local-command-"));
  t.after(() => fs.rmSync(outDir, { recursive: true, force: true }));
  const outFile = path.join(outDir, "ran.txt");

  const stack = makeTempStack({
    files: {
      "Pulumi.yaml": "name: local-command-test\nruntime: nodejs\nmain: index.ts\n",
      // The project's own dependencies, unused @pulumi/aws included: its plugin is not available and
      // must neither fail the run nor be downloaded.
      "package.json": JSON.stringify({
        name: "local-command-test",
        private: true,
        main: "index.ts",
        dependencies: projectDependencies(),
      }),
      "tsconfig.json": JSON.stringify({
        compilerOptions: { strict: true, target: "ES2022", module: "commonjs", moduleResolution: "node", esModuleInterop: true },
        files: ["index.ts"],
      }),
      "index.ts": [
        'import * as command from "@pulumi/command";',
        "",
        'export const appended = new command.local.Command("append-line", {',
        `  create: ${JSON.stringify(`echo ran >> '${outFile}'`)},`,
        "}).stdout;",
        "",
      ].join("\n"),
    },
  });
  t.after(() => stack.cleanup());

  const first = stack.pulumi(["up", "--yes", "--skip-preview"]);
  assert.equal(first.code, 0, show("first pulumi up", first));
  assert.deepEqual(linesOf(outFile), ["ran"], "the command ran exactly once");
  assert.doesNotMatch(first.stdout + first.stderr, /downloading/i, "no plugin was downloaded");

  const second = stack.pulumi(["up", "--yes", "--expect-no-changes"]);
  assert.equal(second.code, 0, show("second pulumi up --expect-no-changes", second));
  assert.deepEqual(linesOf(outFile), ["ran"], "the second up did not run the command again");
});
