// The example pipeline (examples/pipeline/st2-upgrade.yml, README "Pipelines") is checked by
// actionlint: workflow syntax, expressions, the inputs of the actions it uses (pulumi/actions@v6,
// actions/*@v4 are in actionlint's data), job permissions and, through shellcheck, its `run:`
// scripts. actionlint is built from its Go module by scripts/actionlint.sh (into .toolchain/, never
// committed). A copy broken on purpose must fail, so this test cannot pass by not linting.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, it } from "node:test";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const WORKFLOW = path.join(ROOT, "examples", "pipeline", "st2-upgrade.yml");
let actionlint = "";

/** actionlint on `file`: exit code and its findings, one per line. */
function lint(file: string): { code: number; findings: string[] } {
    const r = spawnSync(actionlint, ["-no-color", "-shellcheck", "shellcheck", "-pyflakes", "", "-format", "{{range $err := .}}{{$err.Filepath}}:{{$err.Line}}:{{$err.Column}}: {{$err.Message}} [{{$err.Kind}}]\n{{end}}", file], {
        encoding: "utf8",
    });
    assert.equal(r.error, undefined, String(r.error));
    return { code: r.status ?? 128, findings: `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.trim() !== "") };
}

/** The workflow with `from` replaced by `to` (which must occur), in a temp file. */
function broken(dir: string, from: string, to: string): string {
    const text = fs.readFileSync(WORKFLOW, "utf8");
    assert.ok(text.includes(from), `the workflow no longer contains ${JSON.stringify(from)}: update this test`);
    const file = path.join(dir, `broken-${fs.readdirSync(dir).length}.yml`);
    fs.writeFileSync(file, text.replace(from, to));
    return file;
}

describe("example pipeline (actionlint)", { timeout: 10 * 60_000 }, () => {
    let dir = "";
    before(() => {
        const r = spawnSync("bash", [path.join(ROOT, "scripts", "actionlint.sh")], { cwd: ROOT, encoding: "utf8" });
        assert.equal(r.status, 0, `scripts/actionlint.sh failed:\n${r.stderr}`);
        actionlint = r.stdout.trim().split("\n").pop()!;
        assert.ok(path.isAbsolute(actionlint), r.stdout);
        assert.match(spawnSync(actionlint, ["-version"], { encoding: "utf8" }).stdout, /^v1\.7\.12\n/);
        assert.equal(spawnSync("shellcheck", ["--version"]).status, 0, "shellcheck is needed to lint the run: scripts (apt-get install shellcheck)");
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2-workflow-"));
    });

    it("passes actionlint with no finding", () => {
        const { code, findings } = lint(WORKFLOW);
        assert.deepEqual(findings, []);
        assert.equal(code, 0);
    });

    it("previews with a saved plan on pull requests and applies that plan on merge", () => {
        const text = fs.readFileSync(WORKFLOW, "utf8");
        const preview = text.slice(text.indexOf("\n  preview:"), text.indexOf("\n  apply:"));
        const apply = text.slice(text.indexOf("\n  apply:"));
        assert.match(preview, /if: github\.event_name == 'pull_request'/);
        assert.match(preview, /command: preview\n\s+stack-name: .*\n\s+plan: plan\.json/);
        assert.match(preview, /comment-on-pr: true/);
        assert.match(preview, /uses: actions\/upload-artifact@v4/);
        assert.match(apply, /if: github\.event_name == 'push'/);
        assert.match(apply, /uses: actions\/download-artifact@v4/);
        assert.match(apply, /command: up\n\s+stack-name: .*\n\s+plan: plan\.json/);
        assert.match(apply, /pulumi stack output --stack "\$STACK" --json/);
        // Secrets only from the secret store: no key material or passphrase in the file.
        assert.doesNotMatch(text, /BEGIN [A-Z ]*PRIVATE KEY|PULUMI_CONFIG_PASSPHRASE: [^$]/);
        assert.match(text, /PULUMI_CONFIG_PASSPHRASE: \$\{\{ secrets\.PULUMI_CONFIG_PASSPHRASE \}\}/);
        assert.match(text, /pulumi config set --stack "\$STACK" --secret st2-upgrade:sshPrivateKey/);
    });

    it("fails on a broken copy, naming what is wrong", () => {
        const cases: [string, string, RegExp][] = [
            // An input pulumi/actions does not have.
            ["          plan: plan.json\n          diff: true", "          plan-file: plan.json\n          diff: true", /input "plan-file" is not defined in action "pulumi\/actions@v6"/],
            // A step output that does not exist.
            ["steps.preview.outputs.run-id", "steps.previews.outputs.run-id", /property "previews" is not defined/],
            // A shell mistake in a run: script (shellcheck).
            ['read -r number head <<<"$pr"', "read -r number head <<<$pr", /shellcheck reported issue/],
            // A job that depends on a job that does not exist.
            ["    environment: production\n", "    environment: production\n    needs: [previews]\n", /job "apply" needs job "previews" which does not exist/],
        ];
        for (const [from, to, expected] of cases) {
            const { code, findings } = lint(broken(dir, from, to));
            assert.notEqual(code, 0, `${to}: not refused`);
            assert.ok(findings.some((f) => expected.test(f)), `${to}: expected ${expected}, got:\n${findings.join("\n")}`);
        }
        fs.rmSync(dir, { recursive: true, force: true });
    });
});
