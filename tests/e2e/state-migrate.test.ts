// `npm run state:migrate` on a lab stack whose state st2-upgrade 0.1.0's provider wrote
// (tests/fixtures/state-0.1.0.json, filled in with this lab host's address, port and key, imported
// with its secrets in clear so the stack encrypts them with its own passphrase): after the
// migration the state has the real provider's shape, a preview shows no change, no host was
// logged in to, and a second migration has nothing to do. Lab hosts of this file: prefix "m".
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { fakeFacts, useFactsFile } from "../../lab/support/facts";
import { ensureToolchain, PROJECT_ROOT } from "../../lab/support/engine";
import { labDown, labUp, sshdSessions, type LabHost } from "../../lab/support/lab";
import { labConfig, programStack, type ProgramStack } from "../../lab/support/program";
import { commands, fill, FIXTURE_HOST, FIXTURE_STACK, isSecret, plaintextOf, readFixture } from "../support/state-fixture";
import type { Export } from "../../tools/state-shape";

const PREFIX = FIXTURE_HOST.replace(/\d+$/, "");

describe("state:migrate on a lab stack written by st2-upgrade 0.1.0's provider", () => {
    let host: LabHost;
    let stack: ProgramStack;
    let scratch: string;

    const exportState = (): Export => {
        const r = stack.pulumi(["stack", "export", "--show-secrets"]);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as Export;
    };
    const migrate = (...args: string[]): { code: number; stdout: string; stderr: string } => {
        const r = spawnSync(
            process.execPath,
            [path.join(PROJECT_ROOT, "dist", "tools", "state-migrate.js"), "--stack", FIXTURE_STACK, "--cwd", stack.dir, "--backup-dir", path.join(scratch, "backups"), ...args],
            { cwd: PROJECT_ROOT, env: stack.env, encoding: "utf8" },
        );
        return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
    };

    before(() => {
        ensureToolchain();
        [host] = labUp({ hosts: 1, version: "3.9.0", prefix: PREFIX });
        assert.equal(host.name, FIXTURE_HOST);
        stack = programStack(labConfig([host], { targetVersion: "3.9.0" }), FIXTURE_STACK);
        scratch = fs.mkdtempSync(path.join(os.tmpdir(), "st2-migrate-"));
        // The fixture records a finished 2.0.1 -> 3.9.0 upgrade (made before hosts' OS was read). The
        // facts are those of the host it upgraded: 3.9.0 now, st2mistral left at 3.0.1 (no later
        // package exists), so the plan is pinned to the recorded chain. Given as a file, they also
        // keep the preview from logging in: nothing but the migration touches the stack.
        useFactsFile(scratch, stack.env, {
            [host.name]: fakeFacts("3.9.0", "ubuntu:22.04", { packages: { st2: "3.9.0-1", st2web: "3.9.0-1", st2mistral: "3.0.1-1" } }),
        });
        const state = fill(readFixture(), { address: host.address, port: host.port, privateKey: fs.readFileSync(host.privateKeyPath, "utf8") });
        // The stack's own passphrase secrets provider (its salt, from stack init): the import
        // encrypts the fixture's secrets with it (an import without one makes the CLI panic).
        const salt = /^encryptionsalt: (\S+)$/m.exec(fs.readFileSync(path.join(stack.dir, `Pulumi.${FIXTURE_STACK}.yaml`), "utf8"))?.[1];
        assert.ok(salt, "the stack has no encryptionsalt");
        state.deployment.secrets_providers = { type: "passphrase", state: { salt } };
        const file = path.join(scratch, "state-0.1.0.json");
        fs.writeFileSync(file, JSON.stringify(state), { mode: 0o600 });
        const r = stack.pulumi(["stack", "import", "--file", file]);
        assert.equal(r.code, 0, `pulumi stack import of the 0.1.0 fixture failed:\n${r.stdout}${r.stderr}`);
    });

    after(() => {
        stack?.cleanup();
        if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
        labDown({ prefix: PREFIX });
    });

    it("migrates to the real shape with no host touched, then a preview shows no change", () => {
        const logins = sshdSessions(host);
        const imported = exportState();
        const cmds = commands(imported).length;
        assert.ok(commands(imported).every((r) => "logging" in (r.inputs as object)), "the imported state is not 0.1.0's shape");

        const dry = migrate("--dry-run");
        assert.equal(dry.code, 0, dry.stderr);
        assert.equal(dry.stdout.split("\n").filter((l) => l.startsWith("would change: ")).length, cmds * 3, dry.stdout);
        assert.deepEqual(exportState().deployment.resources, imported.deployment.resources, "a dry run changed the state");
        assert.deepEqual(fs.readdirSync(path.join(scratch, "backups")), [], "a dry run left a copy of the secrets");

        const run = migrate();
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, new RegExp(`${cmds * 3} change\\(s\\) imported`));
        const backups = fs.readdirSync(path.join(scratch, "backups"));
        assert.equal(backups.length, 1, backups.join(", "));
        assert.equal(fs.statSync(path.join(scratch, "backups", backups[0])).mode & 0o777, 0o600);

        for (const res of commands(exportState())) {
            const inputs = res.inputs as Record<string, unknown>;
            assert.ok(!("logging" in inputs), String(res.urn));
            assert.ok(!("logging" in (res.outputs as object)), String(res.urn));
            const conn = plaintextOf(inputs.connection as never) as Record<string, unknown>;
            assert.ok(isSecret(conn.privateKey), `${String(res.urn)}: the key is not a nested secret`);
        }

        const again = migrate();
        assert.equal(again.code, 0, again.stderr);
        assert.match(again.stdout, /already in the real command provider's shape; nothing to do/);

        // No step changes (the stack's outputs may: this program's notices and titles are newer than 0.1.0's).
        const preview = stack.pulumi(["preview", "--json"]);
        assert.equal(preview.code, 0, preview.stderr.slice(-2000));
        const planned = JSON.parse(preview.stdout) as { steps?: { op: string; urn: string }[]; changeSummary?: Record<string, number> };
        assert.ok((planned.changeSummary?.same ?? 0) >= cmds, `every recorded step is still planned, unchanged: ${JSON.stringify(planned.changeSummary)}`);
        // The fleet component gained its settings as inputs (for update plans, README "Pipelines"): a
        // one-time update of a component, which runs nothing.
        const changed = (planned.steps ?? []).filter(
            (x) => x.op !== "same" && !x.urn.endsWith("pulumi:pulumi:Stack::st2-upgrade-" + FIXTURE_STACK) && !(x.op === "update" && x.urn.endsWith("st2upgrade:fleet:StackStormFleet::st2")),
        );
        assert.deepEqual(changed.map((x) => `${x.op} ${x.urn}`), [], "the preview after the migration changes resources");
        assert.equal(sshdSessions(host), logins, "the migration or the preview logged in to the host");
    });
});
