// The fact read's OpenSSH client offers the key exchanges the steps' client offers.
//
// Source: pulumi/pulumi-command v1.2.1 requires golang.org/x/crypto v0.48.0 (provider/go.mod), whose
// ssh/common.go `defaultKexAlgos` starts mlkem768x25519-sha256, curve25519-sha256, ecdh-sha2-nistp256
// and has no sntrup761x25519. The options are resolved by the system's own ssh (`ssh -G`: the
// configuration it would use, without connecting), so an option it does not accept fails here.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { sshArgs, STEPS_KEX } from "../../components/ssh-client";

/** The steps' client's preference (x/crypto v0.48.0), first three. */
const STEPS_CLIENT_KEX = ["mlkem768x25519-sha256", "curve25519-sha256", "ecdh-sha2-nistp256"];

function resolved(args: readonly string[]): Map<string, string> {
    const r = spawnSync("ssh", ["-G", ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return new Map(r.stdout.split("\n").map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]));
}

describe("the fact read's ssh options", () => {
    const args = sshArgs({ user: "stackstorm", address: "10.0.0.11", port: 2222 }, "/dev/null", 5);

    it("pass the system ssh's own parser, with the login, port and no operator ssh_config", () => {
        const config = resolved(args);
        assert.equal(config.get("user"), "stackstorm");
        assert.equal(config.get("hostname"), "10.0.0.11");
        assert.equal(config.get("port"), "2222");
        assert.equal(config.get("batchmode"), "yes");
        assert.ok(args.includes(STEPS_KEX));
    });

    it("offer no key exchange the steps' client lacks first: the steps' order among what this ssh knows", () => {
        const offered = resolved(args).get("kexalgorithms")!.split(",");
        assert.ok(!offered.some((k) => k.startsWith("sntrup761")), offered.join(","));
        const known = new Set(spawnSync("ssh", ["-Q", "kex"], { encoding: "utf8" }).stdout.split("\n"));
        const expected = STEPS_CLIENT_KEX.filter((k) => known.has(k));
        assert.ok(expected.length >= 2, `this ssh knows ${[...known].join(",")}`);
        assert.deepEqual(offered.filter((k) => STEPS_CLIENT_KEX.includes(k)), expected);
        assert.equal(offered[0], expected[0], `first offered: ${offered[0]}`);
    });
});
