// Fault tests: for each fault the upgrade fails with an error naming the host, the step and the
// cause; the host's data is counted before and after and nothing is lost; once the fault is
// removed, the next `pulumi up` finishes. Real engine, real lab hosts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureToolchain } from "../../lab/support/engine";
import { dropSshWhen, labDown, labUp, sshdSessions, sshRun, withFault, type LabHost } from "../../lab/support/lab";
import { inventory } from "../../lab/support/inventory";
import { assertNothingLost, labConfig, programStack, show, type ProgramStack, type UpResult } from "../../lab/support/program";

const MINUTES = 60_000;
const PREFIX = "flt";

/** The failed `up` names the host's step resource and the cause. */
function assertFailed(r: UpResult, host: LabHost, step: string, cause: RegExp): void {
    assert.notEqual(r.code, 0, show(r));
    const text = r.stdout + r.stderr;
    assert.match(text, new RegExp(`st2-${host.name}-${step.replace(/\./g, "\\.")}`), `names the step:\n${show(r)}`);
    assert.match(text, cause, `names the cause:\n${show(r)}`);
    // What the operator reads at the end: the step's Diagnostics block. The real provider quotes the
    // whole script in its error (the CLI shortens that one line); the block must stay readable.
    const block = diagnostics(r.stdout, `st2-${host.name}-${step}`);
    assert.ok(block, `no Diagnostics block for the step:\n${show(r)}`);
    assert.match(block[0], /^error: /, block.join("\n"));
    assert.ok(block.length <= 40, `${block.length} lines of Diagnostics:\n${block.join("\n")}`);
    assert.match(block.join("\n"), cause, `the Diagnostics block names the cause:\n${block.join("\n")}`);
}

/** The lines under `command:remote:Command (NAME):` in the run's Diagnostics section, trimmed. */
function diagnostics(stdout: string, name: string): string[] | undefined {
    const section = stdout.split("\nDiagnostics:\n")[1];
    if (!section) return undefined;
    const lines = section.split("\n");
    const start = lines.findIndex((l) => l.trim() === `command:remote:Command (${name}):`);
    if (start < 0) return undefined;
    const block: string[] = [];
    for (const line of lines.slice(start + 1)) {
        if (/^ {0,2}\S/.test(line)) break; // the next resource's header, or Resources:/Outputs:
        block.push(line.trim());
    }
    while (block.length && block[block.length - 1] === "") block.pop();
    return block;
}

function assertFinished(stack: ProgramStack, host: LabHost, version: string): void {
    const r = stack.up();
    assert.equal(r.code, 0, show(r));
    assert.match(sshRun(host, "st2 --version 2>&1").stdout, new RegExp(`^st2 ${version.replace(/\./g, "\\.")}`));
}

describe("fault tests", { timeout: 60 * MINUTES }, () => {
    let hosts: LabHost[];
    let old: LabHost;
    const stacks: ProgramStack[] = [];
    const stackFor = (host: LabHost, settings: Record<string, unknown>): ProgramStack => {
        const s = programStack(labConfig([host], settings));
        stacks.push(s);
        return s;
    };

    before(() => {
        ensureToolchain();
        hosts = labUp({ hosts: 6, version: "3.8.1", prefix: PREFIX });
        [old] = labUp({ hosts: 1, version: "2.0.1", prefix: `${PREFIX}o` });
    });
    after(() => {
        for (const s of stacks) s.cleanup();
        labDown({ prefix: PREFIX });
        labDown({ prefix: `${PREFIX}o` });
    });

    it("host unreachable at the start", () => {
        const host = hosts[0];
        const stack = stackFor(host, { targetVersion: "3.9.0", ssh: { dialAttempts: 1, dialTimeoutSeconds: 3 } });
        const before = inventory(host);
        const r = withFault(host, "unreachable", () => stack.up());
        // The fact read, before any step, finds the host unreachable: the run stops naming it.
        assert.notEqual(r.code, 0, show(r));
        assert.match(r.stdout + r.stderr, new RegExp(`host ${host.name} \\(st2admin@${host.address.replace(/\./g, "\\.")}:22, hosts\\[0\\]\\): unreachable: ssh failed after 1 attempt\\(s\\) of 3 s`), show(r));
        assert.deepEqual(r.ran, []);
        assertNothingLost(host, before, inventory(host));
        assertFinished(stack, host, "3.9.0");
    });

    it("SSH connection dropped in the middle of the package upgrade", async () => {
        const host = hosts[1];
        const stack = stackFor(host, { targetVersion: "3.9.0" });
        const before = inventory(host);
        // Dropped while dpkg configures the new st2 (the text of our own step scripts never contains
        // this); the double's configure lasts 5 s this once, or a quick one can end before the drop.
        sshRun(host, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/postinst-slow");
        const dropped = dropSshWhen(host, "st2.postinst configure");
        const r = stack.up();
        await dropped;
        assertFailed(r, host, "packages-3.9.0", /(connection|EOF|closed|lost|exited without exit status)/i);
        assertNothingLost(host, before, inventory(host));
        assertFinished(stack, host, "3.9.0");
        assertNothingLost(host, before, inventory(host));
    });

    it("package manager fails", () => {
        const host = hosts[2];
        const stack = stackFor(host, { targetVersion: "3.9.0" });
        const before = inventory(host);
        sshRun(host, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/preinst-fail");
        const r = stack.up();
        assertFailed(r, host, "packages-3.9.0", /\[st2-upgrade flt3\/packages-3\.9\.0\] ERROR: the package upgrade to 3\.9\.0 failed/);
        assertNothingLost(host, before, inventory(host));
        assertFinished(stack, host, "3.9.0");
    });

    it("disk full during the package download", () => {
        const host = hosts[3];
        // minFreeMb 0 lets the download start; with the default, preflight refuses first (see below).
        const stack = stackFor(host, { targetVersion: "3.9.0", preflight: { minFreeMb: 0 } });
        const guarded = stackFor(host, { targetVersion: "3.9.0" });
        const before = inventory(host);
        const [early, r] = withFault(host, "disk-full", () => [guarded.pulumi(["preview"]) && guarded.up(), stack.up()] as const);
        assertFailed(early, host, "preflight", /\[st2-upgrade flt4\/preflight\] ERROR: only \d+ MB free for \/var\/cache\/apt\/archives; preflight\.minFreeMb asks for 1024 MB/);
        assertFailed(r, host, "fetch", /\[st2-upgrade flt4\/fetch\] ERROR: downloading st2=3\.9\.0-1 .*failed/);
        assert.ok(!r.ran.includes("st2-flt4-stop"), "services never stopped");
        assertNothingLost(host, before, inventory(host));
        assertFinished(stack, host, "3.9.0");
    });

    it("a migration script fails", () => {
        const stack = stackFor(old, { targetVersion: "2.2.0" });
        const before = inventory(old);
        sshRun(old, "sudo install -d /etc/st2-double/faults && sudo touch /etc/st2-double/faults/migration-fail-st2-migrate-datastore-scopes.py");
        const r = stack.up();
        assertFailed(r, old, "migrate-2.1-datastore-scopes", /\[st2-upgrade flto1\/migrate-2\.1-datastore-scopes\] ERROR: 2\.1-datastore-scopes failed: ABORTED/);
        assertNothingLost(old, before, inventory(old));
        assertFinished(stack, old, "2.2.0");
        const after = inventory(old);
        assertNothingLost(old, before, after);
        assert.deepEqual(after.keys.by_logical_scope, before.keys.by_logical_scope);
    });

    it("wrong SSH key", () => {
        const host = hosts[4];
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2-wrong-key-"));
        const wrong = path.join(dir, "id_ed25519");
        execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", wrong]);
        const stack = stackFor(host, { ...labConfig([host], {}), targetVersion: "3.9.0", sshPrivateKeyPath: wrong });
        const sessions = sshdSessions(host);
        const r = stack.up();
        // The fact read, before any step, is refused: the run stops naming host, key and user.
        assert.notEqual(r.code, 0, show(r));
        assert.match(r.stdout + r.stderr, new RegExp(`host ${host.name} \\(st2admin@[0-9.]+:22, hosts\\[0\\]\\): the SSH login was refused \\(.*Permission denied.*\\)\\. Check that the key .* is authorized for st2admin`), show(r));
        assert.deepEqual(r.ran, []);
        assert.equal(sshdSessions(host), sessions, "no login happened");
        const fix = stack.pulumi(["config", "set", "st2-upgrade:sshPrivateKeyPath", host.privateKeyPath]);
        assert.equal(fix.code, 0, show(fix));
        assertFinished(stack, host, "3.9.0");
        fs.rmSync(dir, { recursive: true });
    });

    it("sudo asks for a password", () => {
        const host = hosts[5];
        const stack = stackFor(host, { targetVersion: "3.9.0" });
        const before = inventory(host);
        const r = withFault(host, "sudo-password", () => stack.up());
        assertFailed(r, host, "preflight", /\[st2-upgrade flt6\/preflight\] ERROR: passwordless sudo is required: 'sudo -n true' failed for st2admin@flt6/);
        assertNothingLost(host, before, inventory(host));
        assertFinished(stack, host, "3.9.0");
    });

    it("never writes the SSH key or a datastore secret to logs, outputs or state", () => {
        const key = fs.readFileSync(hosts[0].privateKeyPath, "utf8");
        const keyBody = key.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
        const secrets = sshRun(hosts[5], "sudo st2 key list -j -n -1 --scope all --decrypt").stdout;
        const secretValues = [...secrets.matchAll(/"value": "(secret-value-[^"]+)"/g)].map((m) => m[1]);
        assert.ok(secretValues.length > 0, "the seeded secrets decrypt on the host");
        for (const stack of stacks) {
            const state = stack.pulumi(["stack", "export"]);
            assert.equal(state.code, 0, show(state));
            const outputs = stack.pulumi(["stack", "output", "--json", "--show-secrets"]);
            // The engine's log, as an operator's `pulumi up` shows and keeps it. Debug-level diagnostics are
            // left out: @pulumi/pulumi's own debug logging prints RegisterResource responses with secret
            // values in clear (see README, "Secrets"), and they are only produced for --debug/-v runs.
            const logs = fs
                .readdirSync(stack.dir)
                .filter((f) => f.startsWith("events-"))
                .flatMap((f) => fs.readFileSync(path.join(stack.dir, f), "utf8").split("\n"))
                .filter((line) => !line.includes('"prefix":"debug: "'));
            for (const text of [state.stdout, outputs.stdout, ...logs]) {
                for (const chunk of keyBody.match(/.{1,40}/g) ?? []) assert.ok(!text.includes(chunk), "a piece of the SSH key leaked");
                for (const v of secretValues) assert.ok(!text.includes(v), `datastore secret ${v} leaked`);
            }
        }
    });
});

describe("a malformed stack config", { timeout: 20 * MINUTES }, () => {
    let host: LabHost;
    before(() => {
        ensureToolchain();
        [host] = labUp({ hosts: 1, prefix: `${PREFIX}c` });
    });
    after(() => labDown({ prefix: `${PREFIX}c` }));

    it("stops preview and up with the key, the problem and an example, before touching any host", () => {
        const sessions = sshdSessions(host);
        const cases: [Record<string, unknown>, RegExp][] = [
            [{ port: 0 }, /st2-upgrade:hosts\[0\]\.port must be a whole number from 1 to 65535\. Example: 22/],
            [{ currentVersion: "3.9.9" }, /st2-upgrade:hosts\[0\]\.currentVersion "3\.9\.9" is not a StackStorm release the catalog knows/],
            [{ name: "bad name" }, /st2-upgrade:hosts\[0\]\.name must be 1-63 letters, digits or dashes/],
        ];
        for (const [bad, message] of cases) {
            const config = labConfig([{ ...host, version: "3.8.1" }], { targetVersion: "3.9.0" });
            const hostsWithBad = [{ ...(config.hosts as Record<string, unknown>[])[0], ...bad }];
            const stack = programStack({ ...config, hosts: hostsWithBad });
            try {
                // `up` previews first: the program stops in both.
                const r = stack.pulumi(["up", "--yes"]);
                assert.notEqual(r.code, 0, show(r));
                assert.match(r.stdout + r.stderr, message);
            } finally {
                stack.cleanup();
            }
        }
        assert.equal(sshdSessions(host), sessions, "no host was touched");
    });
});
