/**
 * Pinned host keys (components/hostkeys.ts): key text and known_hosts files read as OpenSSH reads
 * them (ssh-keygen is the oracle for fingerprints, hashed names and lookups), the refusal read from
 * ssh's own words, and the config keys that pin, warn or refuse.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { parseConfig, parseSshSettings } from "../../components/config";
import {
    entryMatches,
    keyRefusal,
    knownHostsLine,
    lookupKnownHosts,
    parseHostKey,
    parseKnownHosts,
    pinHostKeys,
    pinVerdict,
    refusalMessage,
    sshHostKeyOptions,
    type PinnedKey,
} from "../../components/hostkeys";
import { parseRolloverConfig } from "../../components/rollover/config";
import { archivePipeScript } from "../../components/rollover/local-scripts";
import { rejectsConfig } from "../support/config";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-hostkeys-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A real key pair made by ssh-keygen: its public line and ssh-keygen's own fingerprint of it. */
function keygen(type: "ed25519" | "ecdsa" | "rsa", name: string): { line: string; fingerprint: string } {
    const file = path.join(dir, name);
    const made = spawnSync("ssh-keygen", ["-q", "-t", type, ...(type === "rsa" ? ["-b", "1024"] : []), "-N", "", "-C", `${name}@test`, "-f", file], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    const listed = spawnSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`], { encoding: "utf8" });
    return { line: fs.readFileSync(`${file}.pub`, "utf8").trim(), fingerprint: listed.stdout.split(" ")[1] };
}

const ED = keygen("ed25519", "ed");
const ED2 = keygen("ed25519", "ed2");
const EC = keygen("ecdsa", "ec");
const RSA = keygen("rsa", "rsa");
const typeBlob = (line: string) => line.split(" ").slice(0, 2).join(" ");
const pinned = (line: string, source = "test"): PinnedKey => {
    const k = parseHostKey(line, source);
    assert.ok(!("problem" in k), JSON.stringify(k));
    return k;
};

describe("parseHostKey", () => {
    it("reads authorized_keys form, comment dropped, with OpenSSH's own fingerprint", () => {
        for (const k of [ED, EC]) {
            const p = pinned(k.line);
            assert.equal(p.text, typeBlob(k.line));
            assert.equal(p.fingerprint, k.fingerprint);
        }
        assert.equal(pinned(`  ${typeBlob(ED.line)}  `).text, typeBlob(ED.line), "surrounding spaces");
    });

    it("refuses RSA, other types, text that is not a key, and a blob of another type", () => {
        assert.match((parseHostKey(RSA.line, "x") as { problem: string }).problem, /is an RSA key.*SHA-1 signatures \(ssh-rsa\) that OpenSSH 8\.8 and later refuse.*ed25519/);
        assert.match((parseHostKey("ssh-dss AAAAB3NzaC1kc3M=", "x") as { problem: string }).problem, /has key type "ssh-dss": pin one of ssh-ed25519, ecdsa-sha2-nistp256/);
        assert.match((parseHostKey("AAAAC3NzaC1lZDI1NTE5", "x") as { problem: string }).problem, /must be a public key in authorized_keys form, "ssh-ed25519 <base64 key>" \(ssh-keyscan -t ed25519 HOST/);
        assert.match((parseHostKey("ssh-ed25519 AAAA%%", "x") as { problem: string }).problem, /not base64/);
        const ecBlob = EC.line.split(" ")[1];
        assert.match((parseHostKey(`ssh-ed25519 ${ecBlob}`, "x") as { problem: string }).problem, /is not a ssh-ed25519 key: the base64 part does not hold one/);
        assert.match((parseHostKey(`ssh-ed25519 ${ED.line.split(" ")[1].slice(0, 20)}`, "x") as { problem: string }).problem, /not a ssh-ed25519 key/);
    });

    it("never throws, whatever the text", () => {
        fc.assert(
            fc.property(fc.string(), (s) => {
                const r = parseHostKey(s, "x");
                assert.ok("problem" in r || r.text.startsWith("ssh-ed25519 ") || r.text.startsWith("ecdsa-"));
            }),
        );
    });
});

describe("known_hosts", () => {
    /** ssh-keygen -F: what OpenSSH finds for a name in a file (exit 0 and the lines), the oracle. */
    const sshFinds = (file: string, name: string): boolean => spawnSync("ssh-keygen", ["-F", name, "-f", file], { encoding: "utf8" }).status === 0;

    it("finds plain, [host]:port, wildcard and negated names as ssh-keygen -F does", () => {
        const text = [
            "# comment",
            `10.0.0.5,st2-a.example.com ${typeBlob(ED.line)}`,
            `[10.0.0.6]:2222 ${typeBlob(EC.line)}`,
            `*.prod.example.com,!bad.prod.example.com ${typeBlob(ED2.line)}`,
            "",
        ].join("\n");
        const file = path.join(dir, "plain");
        fs.writeFileSync(file, text);
        const known = parseKnownHosts(text, file);
        const cases: [string, number, string | undefined][] = [
            ["10.0.0.5", 22, ED.fingerprint],
            ["ST2-A.example.com", 22, ED.fingerprint],
            ["10.0.0.5", 2222, undefined],
            ["10.0.0.6", 2222, EC.fingerprint],
            ["10.0.0.6", 22, undefined],
            ["st2-b.prod.example.com", 22, ED2.fingerprint],
            ["bad.prod.example.com", 22, undefined],
            ["10.0.0.50", 22, undefined],
        ];
        for (const [address, port, fp] of cases) {
            const found = lookupKnownHosts(known, address, port);
            assert.equal(found && !("problem" in found) ? found.fingerprint : undefined, fp, `${address}:${port}`);
            const name = port === 22 ? address.toLowerCase() : `[${address}]:${port}`;
            assert.equal(sshFinds(file, name), fp !== undefined, `ssh-keygen -F ${name}`);
        }
        const found = lookupKnownHosts(known, "10.0.0.5", 22) as PinnedKey;
        assert.equal(found.source, `ssh.knownHostsFile (${file}:2)`);
    });

    it("finds names hashed by ssh-keygen -H", () => {
        const file = path.join(dir, "hashed");
        fs.writeFileSync(file, `10.0.0.5 ${typeBlob(ED.line)}\n[st2-b.example.com]:2200 ${typeBlob(EC.line)}\n`);
        const hashed = spawnSync("ssh-keygen", ["-H", "-f", file], { encoding: "utf8" });
        assert.equal(hashed.status, 0, hashed.stderr);
        const text = fs.readFileSync(file, "utf8");
        assert.doesNotMatch(text, /10\.0\.0\.5|st2-b/, "names are hashed");
        const known = parseKnownHosts(text, file);
        assert.equal((lookupKnownHosts(known, "10.0.0.5", 22) as PinnedKey).fingerprint, ED.fingerprint);
        assert.equal((lookupKnownHosts(known, "st2-b.example.com", 2200) as PinnedKey).fingerprint, EC.fingerprint);
        assert.equal(lookupKnownHosts(known, "10.0.0.6", 22), undefined);
    });

    it("prefers the ed25519 key, skips revoked keys, and says why a host has no usable one", () => {
        const text = [
            `h1 ${typeBlob(EC.line)}`,
            `h1 ${typeBlob(RSA.line)}`,
            `h1 ${typeBlob(ED.line)}`,
            `@revoked h2 ${typeBlob(ED.line)}`,
            `h2 ${typeBlob(ED.line)}`,
            `h2 ${typeBlob(EC.line)}`,
            `@cert-authority *.example.com ${typeBlob(ED2.line)}`,
            `h4 ${typeBlob(RSA.line)}`,
        ].join("\n");
        const known = parseKnownHosts(text, "kh");
        assert.equal((lookupKnownHosts(known, "h1", 22) as PinnedKey).fingerprint, ED.fingerprint);
        assert.equal((lookupKnownHosts(known, "h2", 22) as PinnedKey).fingerprint, EC.fingerprint, "the revoked key is never chosen");
        assert.deepEqual(lookupKnownHosts(known, "h3.example.com", 22), {
            problem: "kh only has a @cert-authority for h3.example.com (lines 7): host certificates cannot be pinned; add the host's own ed25519 key",
        });
        assert.match((lookupKnownHosts(known, "h4", 22) as { problem: string }).problem, /^kh:8 pins h4 with a key that is an RSA key/);
    });

    it("reads any line without throwing, and bad lines are named", () => {
        const known = parseKnownHosts("@bogus h1 ssh-ed25519 AAAA\nh2 ssh-ed25519\n", "kh");
        assert.deepEqual(known.problems, ['kh:1: unknown marker "@bogus"', 'kh:2: not "hostnames keytype base64-key"']);
        fc.assert(fc.property(fc.string(), (s) => void lookupKnownHosts(parseKnownHosts(s, "kh"), "h", 22)));
    });

    it("matches a pattern list as OpenSSH does: a negated match wins", () => {
        assert.equal(entryMatches(["10.0.0.*", "!10.0.0.9"], "10.0.0.8"), true);
        assert.equal(entryMatches(["10.0.0.*", "!10.0.0.9"], "10.0.0.9"), false);
        assert.equal(entryMatches(["!10.0.0.9"], "10.0.0.8"), false, "negation alone matches nothing");
        assert.equal(entryMatches(["10.0.0.?"], "10.0.0.10"), false);
        assert.equal(entryMatches(["a.b"], "axb"), false, "a dot is literal");
    });

    it("writes a line ssh-keygen -F finds under the name ssh looks up", () => {
        const file = path.join(dir, "written");
        fs.writeFileSync(file, `${knownHostsLine("10.0.0.7", 22, pinned(ED.line))}\n${knownHostsLine("St2-C.example.com", 2022, pinned(EC.line))}\n`);
        assert.ok(sshFinds(file, "10.0.0.7"));
        assert.ok(sshFinds(file, "[st2-c.example.com]:2022"));
    });
});

describe("ssh's refusal", () => {
    // OpenSSH_9.2p1 Debian-2+deb12u10 with StrictHostKeyChecking=yes and a known_hosts pinning another
    // ed25519 key (captured against a throwaway sshd on 127.0.0.1:42522).
    const CHANGED = [
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
        "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
        "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!",
        "Someone could be eavesdropping on you right now (man-in-the-middle attack)!",
        "It is also possible that a host key has just been changed.",
        "The fingerprint for the ED25519 key sent by the remote host is",
        "SHA256:KRvbCeAz6VUdwd6PgeAcbn20kqVYwW1GFB2fRA8LQEs.",
        "Please contact your system administrator.",
        "Add correct host key in /tmp/hkcap.Ysl4/kh to get rid of this message.",
        "Offending ED25519 key in /tmp/hkcap.Ysl4/kh:1",
        "  remove with:",
        '  ssh-keygen -f "/tmp/hkcap.Ysl4/kh" -R "[127.0.0.1]:42522"',
        "Host key for [127.0.0.1]:42522 has changed and you have requested strict checking.",
        "Host key verification failed.",
    ].join("\n");

    it("reads the fingerprint of the key the host presented", () => {
        assert.deepEqual(keyRefusal(CHANGED), { actual: { kind: "ED25519", fingerprint: "SHA256:KRvbCeAz6VUdwd6PgeAcbn20kqVYwW1GFB2fRA8LQEs" } });
    });

    it("reads a host without a key of the pinned type (LogLevel INFO: at ERROR ssh says nothing)", () => {
        assert.deepEqual(keyRefusal("Unable to negotiate with 127.0.0.1 port 42522: no matching host key type found. Their offer: ssh-ed25519\n"), { offered: "ssh-ed25519" });
    });

    it("leaves other failures alone", () => {
        assert.equal(keyRefusal("ssh: connect to host 127.0.0.1 port 1: Connection refused"), undefined);
        assert.equal(keyRefusal("st2admin@10.0.0.5: Permission denied (publickey)."), undefined);
    });

    it("names the host and both fingerprints, and says nothing was touched", () => {
        const key = pinned(ED.line, "hosts[0].hostKey");
        const m = refusalMessage("host hk1 (st2admin@10.203.0.11:22, hosts[0])", key, keyRefusal(CHANGED)!);
        assert.equal(
            m,
            `host hk1 (st2admin@10.203.0.11:22, hosts[0]): host key mismatch: expected ED25519 ${ED.fingerprint} (hosts[0].hostKey), ` +
                "but the host presented ED25519 SHA256:KRvbCeAz6VUdwd6PgeAcbn20kqVYwW1GFB2fRA8LQEs. Refused before logging in: nothing was sent to the host and no step ran. " +
                "If the host was reinstalled, get its new key (ssh-keyscan -t ed25519 HOST, then compare its fingerprint (ssh-keygen -lf) with the one the host itself shows " +
                "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub, on its console)) and pin it; otherwise something else answers at this address",
        );
        assert.match(refusalMessage("h", key, { offered: "ssh-rsa,rsa-sha2-512" }), /expected ED25519 .* but the host offers no ssh-ed25519 key \(its key types: ssh-rsa,rsa-sha2-512\)/);
    });

    it("has ssh check the pinned key alone", () => {
        assert.deepEqual(sshHostKeyOptions(pinned(ED.line), "/tmp/kh"), [
            "StrictHostKeyChecking=yes",
            "UserKnownHostsFile=/tmp/kh",
            "GlobalKnownHostsFile=/dev/null",
            "HostKeyAlgorithms=ssh-ed25519",
            "CheckHostIP=no",
            "UpdateHostKeys=no",
            "LogLevel=INFO",
        ]);
        assert.deepEqual(sshHostKeyOptions(undefined, "/tmp/kh"), ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"]);
    });
});

describe("pinning hosts", () => {
    const targets = [
        { name: "a", address: "10.0.0.1", port: 22, hostKey: ED.line, key: "hosts[0]" },
        { name: "b", address: "10.0.0.2", port: 22, key: "hosts[1]" },
        { name: "c", address: "10.0.0.3", port: 22, key: "hosts[2]" },
        { name: "n", port: 22, key: "rollover.newHost" },
    ];
    const known = parseKnownHosts(`10.0.0.1 ${typeBlob(EC.line)}\n10.0.0.2 ${typeBlob(ED2.line)}\n`, "kh");

    it("pins a host by its own hostKey first, else by the known_hosts file; the rest are unpinned", () => {
        const pins = pinHostKeys(targets, known);
        assert.equal(pins.pinned.get("a")?.fingerprint, ED.fingerprint);
        assert.equal(pins.pinned.get("a")?.source, "hosts[0].hostKey");
        assert.equal(pins.pinned.get("b")?.fingerprint, ED2.fingerprint);
        assert.deepEqual(pins.unpinned.map((t) => t.name), ["c", "n"]);
        assert.deepEqual(pins.problems, []);
    });

    it("warns about unpinned hosts, and refuses them with ssh.requireHostKey", () => {
        const pins = pinHostKeys(targets, known);
        const warned = pinVerdict(pins, false);
        assert.deepEqual(warned.errors, []);
        assert.match(warned.warning!, /^2 hosts without a pinned SSH host key: c \(hosts\[2\]\), n \(rollover\.newHost\)\. .*Pin each with hostKey .* or ssh\.knownHostsFile .*; st2-upgrade:ssh\.requireHostKey: true makes this an error$/);
        const refused = pinVerdict(pins, true);
        assert.equal(refused.warning, undefined);
        assert.equal(refused.errors.length, 1);
        assert.match(refused.errors[0], /^st2-upgrade:ssh\.requireHostKey is true and there are 2 hosts without a pinned SSH host key: c \(hosts\[2\]\), n/);
        assert.deepEqual(pinVerdict(pinHostKeys(targets.slice(0, 2), known), true), { errors: [] });
    });

    it("keeps a warning about 500 hosts under 4 KiB", () => {
        const many = Array.from({ length: 500 }, (_, i) => ({ name: `st2-host-${i}`, address: `10.1.${i >> 8}.${i & 255}`, port: 22, key: `hosts[${i}]` }));
        const w = pinVerdict(pinHostKeys(many, undefined), false).warning!;
        assert.ok(w.length < 4096, `${w.length}`);
        assert.match(w, /and 480 more/);
    });
});

describe("config", () => {
    const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    const host = { name: "st2-a", address: "10.0.0.11", user: "stackstorm" };
    const good = { targetVersion: "3.9.0", hosts: [host], sshPrivateKey: KEY };

    it("takes hosts[].hostKey, ssh.knownHostsFile and ssh.requireHostKey", () => {
        const c = parseConfig({ ...good, hosts: [{ ...host, hostKey: ED.line }], ssh: { knownHostsFile: "~/.ssh/known_hosts", requireHostKey: true } });
        assert.equal(c.hosts[0].hostKey, ED.line);
        assert.deepEqual(c.ssh, { dialAttempts: 10, dialTimeoutSeconds: 15, knownHostsFile: "~/.ssh/known_hosts", requireHostKey: true });
        assert.equal(parseSshSettings(undefined).requireHostKey, false);
    });

    it("names the key, the problem and an example for a bad pin", () => {
        rejectsConfig(
            () => parseConfig({ ...good, hosts: [{ ...host, hostKey: RSA.line }, { ...host, name: "st2-b", hostKey: 42 }], ssh: { requireHostKey: "yes", knownHostsFile: " " } }),
            [
                "st2-upgrade:hosts[1].hostKey must be a public key in authorized_keys form. " +
                    'Example: "ssh-ed25519 <base64 key>" (what ssh-keyscan -t ed25519 10.0.0.11 prints after the address, its fingerprint checked on the host\'s console)',
                'st2-upgrade:ssh.knownHostsFile must not be blank. Example: "~/.ssh/known_hosts" (OpenSSH format; hashed names too)',
                "st2-upgrade:ssh.requireHostKey must be true or false. Example: true",
            ],
        );
        rejectsConfig(
            () => parseConfig({ ...good, hosts: [{ ...host, hostKey: RSA.line }] }),
            [
                "st2-upgrade:hosts[0].hostKey is an RSA key, which pulumi-command 1.2.1 can only verify with SHA-1 signatures (ssh-rsa) that OpenSSH 8.8 and later refuse: " +
                    "every step would fail to connect. Pin the host's ed25519 (or ECDSA) key instead. " +
                    'Example: "ssh-ed25519 <base64 key>" (what ssh-keyscan -t ed25519 10.0.0.11 prints after the address, its fingerprint checked on the host\'s console)',
            ],
        );
    });

    it("takes and checks the roll-over hosts' hostKey", () => {
        const rollover = {
            oldHost: { name: "old", address: "10.0.0.1", user: "u", version: "2.10.4", hostKey: ED.line },
            newHost: { name: "new", address: "10.0.0.2", user: "u", version: "3.9.0", st2: { username: "st2admin", password: "p" }, hostKey: "ssh-ed25519 AAAA" },
        };
        const context = { hasDefaultKey: true, awsInstance: false, awsBucket: false };
        rejectsConfig(() => parseRolloverConfig(rollover, context), [
            'st2-upgrade:rollover.newHost.hostKey is not a ssh-ed25519 key: the base64 part does not hold one (a truncated or mixed-up copy?). Example: "ssh-ed25519 <base64 key>" (what ssh-keyscan -t ed25519 10.0.0.21 prints after the address, its fingerprint checked on the host\'s console)',
        ]);
        assert.equal(parseRolloverConfig({ ...rollover, newHost: { ...rollover.newHost, hostKey: ED2.line } }, context).newHost.hostKey, ED2.line);
        const { address: _, ...awsNew } = rollover.newHost;
        rejectsConfig(() => parseRolloverConfig({ ...rollover, newHost: { ...awsNew, hostKey: ED2.line } }, { ...context, awsInstance: true }), [
            "st2-upgrade:rollover.newHost.hostKey must not be set: st2-upgrade:aws.instance creates the new host, whose key is made at its first boot. " +
                'Example: "ssh-ed25519 <base64 key>" (what ssh-keyscan -t ed25519 10.0.0.21 prints after the address, its fingerprint checked on the host\'s console)',
        ]);
    });
});

describe("the roll-over's pipes", () => {
    const host = { name: "old", version: "2.10.4", configKey: "rollover.oldHost" };
    const ep = (address: string, hostKey?: string) => ({
        address,
        port: 22,
        user: "st2admin",
        ...(hostKey ? { hostKey } : {}),
        keyVar: "K",
        st2UserVar: "U",
        st2PasswordVar: "P",
    });
    const script = (hostKey?: string) =>
        archivePipeScript({ oldHost: host, old: ep("10.0.0.1", hostKey), ssh: { dialAttempts: 1, dialTimeoutSeconds: 5, requireHostKey: false }, destination: { kind: "local", dir: "/tmp/x" }, timeoutSeconds: 60 });

    it("check a pinned host's key strictly, against that key alone", () => {
        const s = script(typeBlob(ED.line));
        assert.ok(s.includes(`printf '%s\\n' '10.0.0.1 ${typeBlob(ED.line)}' >"$work/on_old.known_hosts"`), s);
        assert.match(s, /-o StrictHostKeyChecking=yes -o UserKnownHostsFile="\$work\/on_old\.known_hosts" -o GlobalKnownHostsFile=\/dev\/null -o HostKeyAlgorithms=ssh-ed25519 -o CheckHostIP=no -o UpdateHostKeys=no -o LogLevel=INFO/);
        assert.doesNotMatch(s, /accept-new|StrictHostKeyChecking=no/);
    });

    it("trust an unpinned host's key on first use within the run, as before", () => {
        const s = script();
        assert.match(s, /-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile="\$work\/known_hosts" -o LogLevel=ERROR/);
        assert.doesNotMatch(s, /StrictHostKeyChecking=yes/);
    });
});
