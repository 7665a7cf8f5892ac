/**
 * A preview whose host cannot be read fails in seconds, naming the host (measured before: 77-162 s).
 * Two causes, both covered here with the default ssh settings (10 dials of 15 s for the steps):
 * - the fact read dialed like the steps, ssh's ConnectionAttempts x ConnectTimeout: 10 x 15 s plus
 *   1 s between dials on a host whose SYNs go unanswered (159 s), 10 x 1 s when refused; it now
 *   dials once, for at most FACTS_DIAL_SECONDS;
 * - @pulumi/pulumi printed the program's error with util.inspect(err, { colors: true }), which loops
 *   on Node 20.20 for the frames every program error has (components/run-error.ts): the program now
 *   throws pulumi.RunError, printed as it is.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseConfig } from "../../components/config";
import { FACTS_DIAL_SECONDS, FactsError, readFacts } from "../../components/facts";
import { runError } from "../../components/run-error";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
/** The defaults: what an operator gets without an `ssh` section. */
const cfg = parseConfig({ targetVersion: "3.9.0", hosts: [{ name: "st2-a", address: "10.0.0.11", user: "stackstorm" }], sshPrivateKey: KEY });

const target = (name: string, port: number) => ({ name, address: "127.0.0.1", port, user: "stackstorm", key: "hosts[0]", privateKey: KEY });

/**
 * A port whose SYNs go unanswered, as on a host that is down or behind a dropping firewall: a
 * listener that never accepts, its backlog filled (Node's servers accept everything: Python's socket).
 */
async function deafPort(): Promise<{ port: number; close: () => void }> {
    const py = [
        "import socket, sys, time",
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
        "port = s.getsockname()[1]; fill = []",
        "for _ in range(4):",
        "    c = socket.socket(); c.setblocking(False)",
        "    try: c.connect(('127.0.0.1', port))",
        "    except BlockingIOError: pass",
        "    fill.append(c)",
        "print(port, flush=True); time.sleep(120)",
    ].join("\n");
    const child = spawn("python3", ["-c", py], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
        child.once("exit", (code) => reject(new Error(`python3 exited ${code}`)));
    });
    return { port, close: () => child.kill() };
}

async function timedRead(port: number): Promise<{ seconds: number; error: Error }> {
    const t0 = Date.now();
    const error = await readFacts([target("st2-gone", port)], cfg).then(() => new Error("read succeeded"), (e: Error) => e);
    return { seconds: (Date.now() - t0) / 1000, error };
}

describe("a host that cannot be read stops the run in seconds, named", () => {
    it("the defaults are the steps' patience: 10 dials of 15 s", () => {
        assert.deepEqual(cfg.ssh, { dialAttempts: 10, dialTimeoutSeconds: 15, requireHostKey: false });
    });

    it("refused: at once, with ssh's reason", async () => {
        const r = await timedRead(1);
        assert.ok(r.error instanceof FactsError, String(r.error));
        assert.match(r.error.message, /host st2-gone \(stackstorm@127\.0\.0\.1:1, hosts\[0\]\): unreachable: .*Connection refused/);
        assert.ok(r.seconds < 3, `took ${r.seconds} s (10 dials would take 9 s)`);
    });

    describe("no answer", () => {
        let deaf: { port: number; close: () => void };
        before(async () => {
            deaf = await deafPort();
        });
        after(() => deaf.close());

        it(`after one dial of ${FACTS_DIAL_SECONDS} s, not 10 of 15 s`, async () => {
            const r = await timedRead(deaf.port);
            assert.ok(r.error instanceof FactsError, String(r.error));
            assert.match(r.error.message, new RegExp(`host st2-gone \\(stackstorm@127\\.0\\.0\\.1:${deaf.port}, hosts\\[0\\]\\): unreachable: ssh failed after 1 attempt\\(s\\) of ${FACTS_DIAL_SECONDS} s \\(.*timed out`));
            assert.ok(r.seconds >= FACTS_DIAL_SECONDS - 0.5 && r.seconds < FACTS_DIAL_SECONDS + 5, `took ${r.seconds} s`);
        });
    });
});

describe("the program's errors reach the engine as RunError (printed as they are, no util.inspect)", () => {
    it("facts and config errors keep their message only", () => {
        for (const e of [new FactsError(["host a (u@h:22, hosts[0]): unreachable"]), new ConfigError(["st2-upgrade:targetVersion: missing"])]) {
            const r = runError(e);
            assert.ok(pulumi.RunError.isInstance(r));
            assert.equal(r.message, e.message);
        }
        assert.equal(runError(new Error("st2-upgrade:sshPrivateKeyPath: cannot read /k")).message, "st2-upgrade:sshPrivateKeyPath: cannot read /k");
    });

    it("an unexpected error keeps where it happened, as text", () => {
        const e = new TypeError("x is undefined");
        assert.match(runError(e).message, /^TypeError: x is undefined\n\s+at /);
        assert.equal(runError("a string").message, "st2-upgrade failed: a string");
    });
});
