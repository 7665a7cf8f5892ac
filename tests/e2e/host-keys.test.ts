// Pinned host keys, real engine and lab hosts: a pinned host is upgraded with every step's connection
// carrying its key; a host whose key changed is refused by preview and up, naming the host and both
// fingerprints, before any login (its sshd accepts none, the double runs no command, its services
// keep running); unpinned hosts draw a warning, or an error with ssh.requireHostKey; and the
// roll-over's pipe (which would carry decrypted datastore values) refuses the changed key too.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { archivePipeScript } from "../../components/rollover/local-scripts";
import { ensureToolchain } from "../../lab/support/engine";
import { LAB_DIR, labDown, labUp, sshdSessions, sshRun, type LabHost } from "../../lab/support/lab";
import { commandLog, labConfig, programStack, show, type ProgramStack } from "../../lab/support/program";

const MINUTES = 60_000;
const PREFIX = "hk";

/** Where the lab keeps a host's SSH host keys (lab/lib/host.sh: made once per name, copied in at start). */
const keyDir = (host: LabHost) => path.join(LAB_DIR, "keys", "hosts", host.name, "etc", "ssh");

/** The host's ed25519 public key, `ssh-ed25519 AAAA... comment`, read from the lab's files: out of band. */
function hostKeyOf(host: LabHost): string {
    return fs.readFileSync(path.join(keyDir(host), "ssh_host_ed25519_key.pub"), "utf8").trim();
}

/** ssh-keygen's SHA256 fingerprint of a public key line. */
function fingerprintOf(line: string): string {
    const r = spawnSync("ssh-keygen", ["-l", "-E", "sha256", "-f", "-"], { input: `${line}\n`, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split(" ")[1];
}

/**
 * The host gets new host keys, as a reinstalled (or impersonated) host would: new files where the
 * lab keeps them and in the host's /etc/ssh. sshd re-executes itself for every connection and loads
 * its host keys then, so the next connection meets the new key; the test waits until it does.
 */
function changeHostKeys(host: LabHost): void {
    for (const f of fs.readdirSync(keyDir(host))) if (f.startsWith("ssh_host_")) fs.rmSync(path.join(keyDir(host), f));
    const made = spawnSync("ssh-keygen", ["-q", "-A", "-f", path.join(LAB_DIR, "keys", "hosts", host.name)], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    for (const f of fs.readdirSync(keyDir(host))) if (f.startsWith("ssh_host_")) fs.copyFileSync(path.join(keyDir(host), f), path.join(host.root, "etc", "ssh", f));
    const fresh = fingerprintOf(hostKeyOf(host));
    const deadline = Date.now() + 20_000;
    for (;;) {
        const scan = spawnSync("ssh-keyscan", ["-t", "ed25519", "-T", "2", host.address], { encoding: "utf8" });
        const line = scan.stdout.split("\n").find((l) => l.startsWith(`${host.address} ssh-ed25519 `));
        if (line && fingerprintOf(line.slice(host.address.length + 1)) === fresh) return;
        assert.ok(Date.now() < deadline, `${host.name} does not present its new key: ${scan.stdout}${scan.stderr}`);
        spawnSync("sleep", ["0.3"]);
    }
}

/** What the double ran as root (one line per st2/st2ctl call), and the st2 components running. */
function running(host: LabHost): string {
    return sshRun(host, "sudo st2ctl status 2>&1 | grep -c 'PID:'; st2 --version 2>&1 | head -n 1").stdout.trim();
}

/** Every remote step's `connection.hostKey` in the stack's state (secrets shown: the connection is one). */
function stepHostKeys(stack: ProgramStack): (string | undefined)[] {
    const r = stack.pulumi(["stack", "export", "--show-secrets"]);
    assert.equal(r.code, 0, show(r));
    const resources = (JSON.parse(r.stdout) as { deployment: { resources?: { type: string; inputs?: { connection?: unknown } }[] } }).deployment.resources ?? [];
    return resources
        .filter((x) => x.type === "command:remote:Command")
        .map((x) => {
            let c = x.inputs?.connection as Record<string, unknown> | undefined;
            // A secret in an export: { "4dabf18193072939515e22adb298388d": ..., plaintext: "<json>" }.
            if (c && typeof c.plaintext === "string") c = JSON.parse(c.plaintext) as Record<string, unknown>;
            return c?.hostKey as string | undefined;
        });
}

describe("pinned host keys", { timeout: 40 * MINUTES }, () => {
    let pinnedHost: LabHost;
    let changed: LabHost;
    const stacks: ProgramStack[] = [];
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-hk-"));
    const stackOf = (config: Record<string, unknown>, name = "e2e"): ProgramStack => {
        const s = programStack(config, name);
        stacks.push(s);
        return s;
    };

    before(() => {
        ensureToolchain();
        [pinnedHost, changed] = labUp({ hosts: 2, version: "3.8.1", prefix: PREFIX });
    });
    after(() => {
        for (const s of stacks) s.cleanup();
        labDown({ prefix: PREFIX });
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("unpinned hosts: preview warns; with ssh.requireHostKey it refuses before contacting them", () => {
        const warned = stackOf(labConfig([pinnedHost], { targetVersion: "3.9.0" }), "e2e-unpinned");
        const r = warned.pulumi(["preview"]);
        assert.equal(r.code, 0, show(r));
        assert.match(r.stdout + r.stderr, new RegExp(`warning: host without a pinned SSH host key: ${pinnedHost.name} \\(hosts\\[0\\]\\)`), show(r));
        assert.match(r.stdout + r.stderr, /st2-upgrade:ssh\.requireHostKey: true makes this an error/);

        const logins = sshdSessions(pinnedHost);
        const strict = stackOf(labConfig([pinnedHost], { targetVersion: "3.9.0", ssh: { requireHostKey: true } }), "e2e-required");
        const refused = strict.pulumi(["preview"]);
        assert.notEqual(refused.code, 0, show(refused));
        assert.match(refused.stdout + refused.stderr, new RegExp(`st2-upgrade:ssh\\.requireHostKey is true and there is one host without a pinned SSH host key: ${pinnedHost.name} \\(hosts\\[0\\]\\)`), show(refused));
        assert.equal(sshdSessions(pinnedHost), logins, "no login: refused before the fact read");
    });

    it("pinned (hostKey, ssh.requireHostKey): up upgrades the host, every step's connection carrying the key", () => {
        const key = hostKeyOf(pinnedHost);
        const config = labConfig([pinnedHost], { targetVersion: "3.9.0", ssh: { requireHostKey: true } });
        (config.hosts as Record<string, unknown>[])[0].hostKey = key;
        const stack = stackOf(config, "e2e-pinned");
        const r = stack.up();
        assert.equal(r.code, 0, show(r));
        assert.doesNotMatch(r.stdout + r.stderr, /without a pinned SSH host key/);
        assert.ok(r.ran.length >= 5, `steps ran: ${r.ran.join(", ")}`);
        assert.match(sshRun(pinnedHost, "st2 --version 2>&1").stdout, /^st2 3\.9\.0/);
        const keys = stepHostKeys(stack);
        assert.equal(keys.length, r.ran.length);
        assert.deepEqual(new Set(keys), new Set([key.split(" ").slice(0, 2).join(" ")]));
    });

    it("a host whose key changed: preview and up refuse, naming the host and both fingerprints, touching nothing", () => {
        // Pinned through a known_hosts file with hashed names, as `ssh-keygen -H` leaves ~/.ssh/known_hosts.
        const knownHosts = path.join(tmp, "known_hosts");
        fs.writeFileSync(knownHosts, `${changed.address} ${hostKeyOf(changed)}\n`);
        assert.equal(spawnSync("ssh-keygen", ["-H", "-f", knownHosts]).status, 0);
        const expected = fingerprintOf(hostKeyOf(changed));
        const stack = stackOf(labConfig([changed], { targetVersion: "3.9.0", ssh: { knownHostsFile: knownHosts, requireHostKey: true } }), "e2e-changed");
        // The pin is right so far: preview reads the host and plans the upgrade.
        const ok = stack.pulumi(["preview"]);
        assert.equal(ok.code, 0, show(ok));
        assert.match(ok.stdout, new RegExp(`st2-${changed.name}-packages-3\\.9\\.0`));

        changeHostKeys(changed);
        const actual = fingerprintOf(hostKeyOf(changed));
        assert.notEqual(actual, expected);
        const state = running(changed);
        const log = commandLog(changed);
        const logins = sshdSessions(changed);

        const where = `host ${changed.name} \\(st2admin@${changed.address.replace(/\./g, "\\.")}:22, hosts\\[0\\]\\)`;
        const refusal = new RegExp(
            `${where}: host key mismatch: expected ED25519 ${expected.replace(/[+/]/g, "\\$&")} \\(ssh\\.knownHostsFile \\(${knownHosts.replace(/[./]/g, "\\$&")}:1\\)\\), ` +
                `but the host presented ED25519 ${actual.replace(/[+/]/g, "\\$&")}\\. Refused before logging in`,
        );
        const preview = stack.pulumi(["preview"]);
        assert.notEqual(preview.code, 0, show(preview));
        assert.match(preview.stdout + preview.stderr, refusal, show(preview));
        const up = stack.up();
        assert.notEqual(up.code, 0, show(up));
        assert.match(up.stdout + up.stderr, refusal, show(up));
        assert.deepEqual(up.ran, [], "no step ran");

        assert.equal(sshdSessions(changed), logins, "no login at all: ssh refused the key before authenticating");
        assert.deepEqual(commandLog(changed), log, "the double ran nothing");
        assert.equal(running(changed), state, "services and version as they were");
    });

    it("the roll-over's pipe refuses the changed key, and works with the new one", () => {
        // Runs after the key change above: the host's old key is the wrong one now.
        const oldLine = fs.readFileSync(path.join(tmp, "known_hosts"), "utf8"); // hashed; the wrong key is its key part
        const wrong = oldLine.trim().split(" ").slice(1, 3).join(" ");
        const right = hostKeyOf(changed).split(" ").slice(0, 2).join(" ");
        assert.notEqual(wrong, right);
        const run = (hostKey: string, dir: string) => {
            const script = archivePipeScript({
                oldHost: { name: changed.name, version: "3.8.1", configKey: "rollover.oldHost" },
                old: { address: changed.address, port: 22, user: changed.user, hostKey, keyVar: "ST2U_OLD_SSH_KEY", st2UserVar: "ST2U_OLD_ST2_USER", st2PasswordVar: "ST2U_OLD_ST2_PASSWORD" },
                ssh: { dialAttempts: 1, dialTimeoutSeconds: 5, requireHostKey: true },
                destination: { kind: "local", dir },
                timeoutSeconds: 120,
            });
            return spawnSync("bash", ["-c", script], { env: { ...process.env, ST2U_OLD_SSH_KEY: fs.readFileSync(changed.privateKeyPath, "utf8") }, encoding: "utf8", cwd: tmp });
        };
        const logins = sshdSessions(changed);
        const refused = run(wrong, path.join(tmp, "refused"));
        assert.notEqual(refused.status, 0, refused.stdout + refused.stderr);
        assert.match(refused.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
        assert.match(refused.stderr, new RegExp(`The fingerprint for the ED25519 key sent by the remote host is\\s+${fingerprintOf(right).replace(/[+/]/g, "\\$&")}`));
        assert.match(refused.stderr, /Host key verification failed/);
        assert.equal(sshdSessions(changed), logins, "nothing reached the host");
        assert.equal(fs.existsSync(path.join(tmp, "refused", changed.name)), false, "nothing copied");

        const copied = run(right, path.join(tmp, "copied"));
        assert.equal(copied.status, 0, copied.stdout + copied.stderr);
        assert.match(copied.stdout, /^AUDIT_DESTINATION /m);
        assert.equal(sshdSessions(changed), logins + 1);
    });
});
