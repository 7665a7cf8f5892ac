/**
 * The roll-over's scripts: shellcheck, and the whole datastore pipe, audit-log copy, packs and
 * verification run for real on this machine against a fake `st2` (per-era CLI behaviour: paging,
 * scopes, --decrypt, auth), a fake `ssh` (runs the host's command with sh, like a login shell) and a
 * fake `sudo`. What they prove: every key moves, secrets arrive decrypted and marked, credentials are
 * used for `st2 key load`, temporary files are 0600 and gone afterwards, and no value is printed.
 */
import { stepScript } from "../../components/scripts/shell";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { archiveScript, exportScript, loadScript, packCheckScript, packsScript, preflightScript, type ScriptHost } from "../../components/rollover/host-scripts";
import { archivePipeScript, datastorePipeScript, verifyScript, type AuditDestination, type PipeContext, type SshEndpoint } from "../../components/rollover/local-scripts";
import { packsByRepo } from "../../components/rollover/packs";

const CLI = path.resolve(__dirname, "../../components/rollover/convert-cli.js");
const OLD: ScriptHost = { name: "st2-old", version: "2.0.1", configKey: "rollover.oldHost" };
const NEW: ScriptHost = { name: "st2-new", version: "3.9.0", configKey: "rollover.newHost" };
const PACKS = [
    { name: "alpha", repoUrl: "https://git.example.com/alpha.git" },
    { name: "beta", repoUrl: "https://git.example.com/mono.git" },
    { name: "gamma", repoUrl: "https://git.example.com/mono.git" },
];
/** 3.x installs one pack per repository. */
const PACKS3 = [
    { name: "alpha", repoUrl: "https://git.example.com/alpha.git" },
    { name: "beta", repoUrl: "https://git.example.com/beta.git" },
];
const SECRET = "hunter2-plain-secret";
const PASSWORD = "n3w-St2-pass";

function endpoint(prefix: string, address: string): SshEndpoint {
    return { address, port: 22, user: "st2admin", keyVar: `ST2U_${prefix}_SSH_KEY`, st2UserVar: `ST2U_${prefix}_ST2_USER`, st2PasswordVar: `ST2U_${prefix}_ST2_PASSWORD` };
}

function context(oldHost: ScriptHost = OLD, newHost: ScriptHost = NEW): PipeContext {
    return {
        oldHost,
        newHost,
        old: endpoint("OLD", "10.9.0.1"),
        fresh: endpoint("NEW", "10.9.0.2"),
        ssh: { dialAttempts: 3, dialTimeoutSeconds: 15, requireHostKey: false },
        converter: [process.execPath, CLI],
        timeoutSeconds: 60,
    };
}

// ------------------------------------------------------------------------------------------------
// The fakes.

/** st2 with the behaviour of its era: scopes, `all` from 2.1, 50 keys unless -n -1 from 2.4, auth. */
const FAKE_ST2 = String.raw`#!/usr/bin/env python3
import configparser, json, os, sys
H = os.environ["FAKE_ST2_HOME"]
def rd(n, d):
    try:
        with open(os.path.join(H, n)) as f: return json.load(f)
    except FileNotFoundError: return d
def wr(n, v):
    with open(os.path.join(H, n), "w") as f: json.dump(v, f)
host = rd("host.json", {})
V = tuple(int(x) for x in host["version"].split("."))
def at_least(v): return V >= tuple(int(x) for x in v.split("."))
era = "v14" if not at_least("1.5.0") else "v15" if not at_least("2.1.0") else "v21"
SYS, USR = {"v14": (None, None), "v15": ("system", "user"), "v21": ("st2kv.system", "st2kv.user")}[era]
args = sys.argv[1:]
if args == ["--version"]:
    print("st2 %s%s" % (host["version"], ", on Python 3.8.10" if at_least("2.7.0") else "")); sys.exit(0)
rec = {"argv": args}
conf = os.environ.get("ST2_CONFIG_FILE")
if conf:
    cp = configparser.RawConfigParser(); cp.read(conf)
    rec["conf_mode"] = oct(os.stat(conf).st_mode & 0o777)
    rec["conf_user"] = cp.get("credentials", "username", fallback=None)
    rec["conf_password_ok"] = cp.get("credentials", "password", fallback=None) == (host.get("credentials") or [None, None])[1]
def done(extra=None):
    rec.update(extra or {})
    calls = rd("calls.json", []); calls.append(rec); wr("calls.json", calls)
def fail(msg, code=1):
    done({"failed": msg}); sys.stdout.write("ERROR: %s\n\n" % msg); sys.exit(code)  # real st2 prints errors on stdout (real-st2 38d, 65)
need = host.get("credentials")
if need and not (conf and rec.get("conf_user") == need[0] and rec.get("conf_password_ok")):
    fail("401 Client Error: Unauthorized\nMESSAGE: Unauthorized - One of Token or API key required.")
def full(scope):
    return {"system": SYS, "user": USR}.get(scope, scope)
if args[:2] == ["key", "list"]:
    scope, limit, decrypt, i = "system", (50 if at_least("2.4.0") else None), False, 2
    while i < len(args):
        a = args[i]
        if a in ("--scope", "-s") and era != "v14": scope = args[i + 1]; i += 1
        elif a == "-n" and at_least("2.4.0"): limit = int(args[i + 1]); i += 1
        elif a == "--decrypt" and era != "v14" or a == "-d" and at_least("3.0.0"): decrypt = True
        elif a != "-j": fail("unrecognized arguments: %s" % a, 2)
        i += 1
    keys = rd("keys.json", [])
    if era != "v14":
        if scope == "all" and era == "v15": fail("400 Client Error: Bad Request\nMESSAGE: Invalid scope: all")
        if scope != "all": keys = [k for k in keys if k["scope"] == full(scope)]
    if limit and limit > 0: keys = keys[:limit]
    rows = []
    for k in keys:
        if era == "v14": rows.append({"name": k["name"], "value": k["value"]}); continue
        enc = k.get("secret", False) and not decrypt
        row = {"name": k["name"], "value": ("ENC:" + k["value"].encode().hex()) if enc else k["value"],
               "secret": k.get("secret", False), "encrypted": enc, "scope": k["scope"]}
        if k.get("user"): row["user"] = k["user"]
        rows.append(row)
    done(); print(json.dumps(rows, indent=4, sort_keys=True)); sys.exit(0)
if args[:2] == ["key", "load"]:
    path = args[2]
    items = json.load(open(path))
    keys = rd("keys.json", [])
    for it in items:
        k = {"name": it["name"], "value": it["value"], "secret": bool(it.get("secret")), "scope": full(it.get("scope", "system"))}
        if it.get("user"): k["user"] = it["user"]
        keys = [x for x in keys if (x["name"], x["scope"], x.get("user")) != (k["name"], k["scope"], k.get("user"))] + [k]
    wr("keys.json", keys)
    done({"load_mode": oct(os.stat(path).st_mode & 0o777), "loaded": items})
    print(json.dumps(items)); sys.exit(0)
if args[:2] == ["pack", "list"]:
    done(); print(json.dumps(rd("packs.json", []), indent=4, sort_keys=True)); sys.exit(0)
if args[:2] == ["run", "packs.install"]:
    p = dict(a.split("=", 1) for a in args[2:])
    packs = rd("packs.json", []) + [{"ref": n, "name": n} for n in p["packs"].split(",")]
    wr("packs.json", packs); done(); print("status: succeeded"); sys.exit(0)
if args[:2] == ["pack", "install"] and at_least("2.1.0"):
    packs = rd("packs.json", []) + [{"ref": os.path.basename(u).replace(".git", ""), "name": "x"} for u in args[2:]]
    wr("packs.json", packs); done(); print("installed"); sys.exit(0)
fail("unknown command %s" % args, 2)
`;

/** ssh: records the key file's mode, picks the host by address, runs the command with sh. */
const FAKE_SSH = `#!/bin/bash
key=""
while [ $# -gt 2 ]; do case "$1" in -i) key=$2; shift 2 ;; -p|-o) shift 2 ;; *) shift ;; esac; done
stat -c %a "$key" >>"$FAKE_ROOT/ssh-key-modes"
export FAKE_ST2_HOME="$FAKE_ROOT/\${1#*@}"
exec sh -c "$2"
`;

const FAKE_SUDO = `#!/bin/bash
if [ "$1" = "-n" ]; then shift; fi
exec "$@"
`;

interface Lab {
    root: string;
    tmp: string;
    env: NodeJS.ProcessEnv;
    home(address: string): string;
    keys(address: string): { name: string; value: string; secret?: boolean; scope?: string; user?: string }[];
    calls(address: string): { argv: string[]; conf_user?: string; conf_password_ok?: boolean; conf_mode?: string; load_mode?: string; loaded?: unknown[]; failed?: string }[];
}

const labs: string[] = [];
after(() => labs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function lab(oldVersion: string, newVersion: string, oldKeys: object[], opts: { newCredentials?: boolean } = {}): Lab {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-rollover-"));
    labs.push(root);
    const bin = path.join(root, "bin");
    const tmp = path.join(root, "tmp");
    fs.mkdirSync(bin);
    fs.mkdirSync(tmp);
    for (const [name, text] of [["st2", FAKE_ST2], ["ssh", FAKE_SSH], ["sudo", FAKE_SUDO]]) fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
    const hostDir = (a: string) => path.join(root, a);
    fs.mkdirSync(hostDir("10.9.0.1"));
    fs.mkdirSync(hostDir("10.9.0.2"));
    fs.writeFileSync(path.join(hostDir("10.9.0.1"), "host.json"), JSON.stringify({ version: oldVersion }));
    fs.writeFileSync(path.join(hostDir("10.9.0.1"), "keys.json"), JSON.stringify(oldKeys));
    fs.writeFileSync(path.join(hostDir("10.9.0.2"), "host.json"), JSON.stringify({ version: newVersion, ...(opts.newCredentials === false ? {} : { credentials: ["st2admin", PASSWORD] }) }));
    const read = (a: string, f: string) => {
        const p = path.join(hostDir(a), f);
        return fs.existsSync(p) ? JSON.parse(fs.readFileSync(p, "utf8")) : [];
    };
    return {
        root,
        tmp,
        env: {
            PATH: `${bin}:${process.env.PATH}`,
            HOME: root,
            FAKE_ROOT: root,
            TMPDIR: tmp,
            ST2U_OLD_SSH_KEY: "-----BEGIN OPENSSH PRIVATE KEY-----\nold\n-----END OPENSSH PRIVATE KEY-----",
            ST2U_NEW_SSH_KEY: "-----BEGIN OPENSSH PRIVATE KEY-----\nnew\n-----END OPENSSH PRIVATE KEY-----\n",
            ST2U_OLD_ST2_USER: "",
            ST2U_OLD_ST2_PASSWORD: "",
            ST2U_NEW_ST2_USER: "st2admin",
            ST2U_NEW_ST2_PASSWORD: PASSWORD,
        },
        home: hostDir,
        keys: (a) => read(a, "keys.json"),
        calls: (a) => read(a, "calls.json"),
    };
}

function runLocal(script: string, l: Lab) {
    const r = spawnSync("/bin/bash", ["-c", script], { env: l.env, encoding: "utf8" });
    if (r.error) throw r.error;
    return r;
}

/** Keys as a 2.0.1 host stores them: both scopes, two users, secrets. */
function keys20(n: number): object[] {
    const out: object[] = [];
    for (let i = 0; i < n; i++) out.push({ name: `k${String(i).padStart(3, "0")}`, value: `v${i}`, scope: "system" });
    out.push({ name: "token", value: SECRET, secret: true, scope: "system" });
    out.push({ name: "pref", value: "dark", scope: "user", user: "alice" });
    out.push({ name: "api", value: `${SECRET}-alice`, secret: true, scope: "user", user: "alice" });
    return out;
}

// ------------------------------------------------------------------------------------------------

describe("roll-over scripts", () => {
    const c = context();
    const dests: AuditDestination[] = [{ kind: "local", dir: "st2-audit-logs" }, { kind: "s3", bucket: "acme-archive", prefix: "st2-rollover" }];
    const hostScripts = [
        preflightScript(OLD, { role: "old", needsGit: false, timeoutSeconds: 600 }),
        preflightScript(NEW, { role: "new", needsGit: true, timeoutSeconds: 600 }),
        preflightScript({ ...OLD, version: "1.4.0" }, { role: "old", needsGit: false, timeoutSeconds: 600 }),
        exportScript(OLD, true, 600),
        exportScript({ ...OLD, version: "3.8.1" }, true, 600),
        loadScript(NEW, 600),
        packsScript(NEW, PACKS3, 600),
        packsScript({ ...NEW, version: "2.10.4" }, PACKS, 600),
        packCheckScript(NEW, PACKS3, 600),
        archiveScript(OLD, 600),
    ];
    // Both ends pinned (an ed25519 and an ECDSA key): the known_hosts lines and strict options.
    const pinnedEnds = {
        ...c,
        old: { ...c.old, hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKXIXVf187SUd9PP8SSP12TSiKjBPwgRKaeXJOch2lFA" },
        fresh: { ...c.fresh, port: 2222, hostKey: "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBC4+E6T2/9Z6keOD+HvgXkM/ebjtv/7FKw9tOAT8W+4iO/gGNlHSXMR1IMIoE+JUWmA98fvEHixyVPjelGHu8Mo=" },
    };
    const localScripts = [
        datastorePipeScript(c),
        datastorePipeScript(pinnedEnds),
        verifyScript({ ...pinnedEnds, packs: PACKS, destination: dests[0], copied: [] }),
        ...dests.map((destination) => archivePipeScript({ oldHost: OLD, old: c.old, ssh: c.ssh, destination, timeoutSeconds: 600 })),
        ...dests.map((destination) => verifyScript({ ...c, packs: PACKS, destination, copied: [{ name: "st2api.audit.log", sha256: "a".repeat(64), bytes: 3 }] })),
        verifyScript({ ...c, packs: [], destination: dests[0], copied: undefined }),
    ];

    it(`pass bash -n and shellcheck (${hostScripts.length} host scripts, ${localScripts.length} local scripts)`, () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-rollover-sc-"));
        const bash: string[] = [];
        const sh: string[] = [];
        hostScripts.forEach((s, i) => {
            bash.push(path.join(dir, `host-${i}.bash`));
            fs.writeFileSync(bash[bash.length - 1], s.body);
            sh.push(path.join(dir, `host-${i}.sh`));
            fs.writeFileSync(sh[sh.length - 1], `#!/bin/sh\n${s.command}\n`);
        });
        localScripts.forEach((s, i) => {
            bash.push(path.join(dir, `local-${i}.bash`));
            fs.writeFileSync(bash[bash.length - 1], s);
        });
        for (const f of bash) {
            const r = spawnSync("bash", ["-n", f], { encoding: "utf8" });
            assert.equal(r.status, 0, `${f}: ${r.stderr}`);
        }
        const b = spawnSync("shellcheck", ["-s", "bash", "-f", "gcc", ...bash], { encoding: "utf8" });
        assert.equal(b.status, 0, `shellcheck (bash):\n${b.stdout}${b.stderr}`);
        const s = spawnSync("shellcheck", ["-s", "sh", "-f", "gcc", ...sh], { encoding: "utf8" });
        assert.equal(s.status, 0, `shellcheck (host commands):\n${s.stdout}${s.stderr}`);
        fs.rmSync(dir, { recursive: true });
    });

    it("run host scripts as root under sudo -n with a time limit, reading stdin where they need credentials", () => {
        const load = loadScript(NEW, 600);
        assert.match(load.command, /sudo -n timeout -k 30 600 bash -c "\$step" st2-upgrade \|\| rc=\$\?/);
        assert.doesNotMatch(load.command, /<\/dev\/null/);
        assert.match(load.body, /^#!\/bin\/bash\n# st2-upgrade: .+\nset -euo pipefail\n/);
        assert.throws(() => stepScript({ host: "h", step: "s", title: "t" }, [], ["ST2_UPGRADE_STEP"], 1, { readsStdin: true }), /contains the line ST2_UPGRADE_STEP/);
    });

    it("contain no secret and no key material; credentials only by variable name", () => {
        for (const s of [...hostScripts.map((h) => h.command), ...localScripts]) {
            assert.doesNotMatch(s, /PRIVATE KEY|hunter2|n3w-St2-pass/);
        }
        assert.match(localScripts[0], /printf '%s\\n%s\\n' "\$\{ST2U_NEW_ST2_USER:-\}" "\$\{ST2U_NEW_ST2_PASSWORD:-\}"/);
        assert.match(localScripts[0], /unset ST2U_OLD_SSH_KEY/);
    });

    it("export every key: -n -1 from 2.4 (st2 #3708), one listing per scope before 2.1, secrets with --decrypt", () => {
        assert.match(exportScript({ ...OLD, version: "3.8.1" }, true, 60).body, /st2 key list -j --scope all -n -1 --decrypt >/);
        assert.match(exportScript({ ...OLD, version: "2.2.0" }, true, 60).body, /st2 key list -j --scope all --decrypt >/);
        const v20 = exportScript(OLD, true, 60).body;
        assert.match(v20, /st2 key list -j --scope system --decrypt >/);
        assert.match(v20, /st2 key list -j --scope user --decrypt >/);
        assert.doesNotMatch(exportScript({ ...OLD, version: "3.8.1" }, false, 60).body, /decrypt/);
    });

    it("install packs as the target's version does, one run per repository", () => {
        assert.deepEqual(packsByRepo(PACKS), [
            { repoUrl: "https://git.example.com/alpha.git", names: ["alpha"] },
            { repoUrl: "https://git.example.com/mono.git", names: ["beta", "gamma"] },
        ]);
        const v2 = packsScript({ ...NEW, version: "2.10.4" }, PACKS, 60).body;
        assert.match(v2, /st2 run packs\.install packs=beta,gamma repo_url=https:\/\/git\.example\.com\/mono\.git >/);
        assert.match(v2, /grep -q '\^status: succeeded'/);
        const v3 = packsScript(NEW, PACKS3, 60).body;
        assert.match(v3, /st2 pack install https:\/\/git\.example\.com\/alpha\.git >/);
        assert.match(v3, /printf '%s %s\\n' PACKS_INSTALLED '\["alpha","beta"\]'/);
        assert.throws(
            () => packsScript(NEW, PACKS, 60),
            /^Error: pack gamma: repoUrl is also the repository of beta: StackStorm 3\.9\.0 installs one pack per repository \(st2 pack install <url>\)$/,
        );
    });
});

describe("roll-over scripts, run against fake hosts", () => {
    it("move every key from 2.0.1 to 3.9.0: scopes renamed, users kept, secrets decrypted and marked, nothing printed", () => {
        const l = lab("2.0.1", "3.9.0", keys20(60));
        const r = runLocal(datastorePipeScript(context()), l);
        assert.equal(r.status, 0, r.stderr);
        const moved = l.keys("10.9.0.2");
        assert.equal(moved.length, 63);
        assert.deepEqual(moved.find((k) => k.name === "token"), { name: "token", value: SECRET, secret: true, scope: "st2kv.system" });
        assert.deepEqual(moved.find((k) => k.name === "api"), { name: "api", value: `${SECRET}-alice`, secret: true, scope: "st2kv.user", user: "alice" });
        assert.deepEqual(moved.find((k) => k.name === "pref"), { name: "pref", value: "dark", secret: false, scope: "st2kv.user", user: "alice" });
        // The old host was asked per scope, decrypted; the load file was 0600.
        assert.deepEqual(l.calls("10.9.0.1").map((c) => c.argv.join(" ")), ["key list -j --scope system --decrypt", "key list -j --scope user --decrypt"]);
        const load = l.calls("10.9.0.2").find((c) => c.argv[1] === "load")!;
        assert.equal(load.load_mode, "0o600");
        assert.equal((load.loaded as { secret: boolean }[]).filter((i) => i.secret).length, 2);
        // Auth token trap: st2 key load logged in with the configured credentials, from a 0600 file.
        assert.equal(load.conf_user, "st2admin");
        assert.equal(load.conf_password_ok, true);
        assert.equal(load.conf_mode, "0o600");
        // SSH keys were 0600 files; nothing is left behind, here or "on the hosts".
        assert.deepEqual(fs.readFileSync(path.join(l.root, "ssh-key-modes"), "utf8").trim().split("\n"), ["600", "600"]);
        assert.deepEqual(fs.readdirSync(l.tmp), []);
        for (const out of [r.stdout, r.stderr]) assert.doesNotMatch(out, /hunter2|n3w-St2-pass|dark/);
        assert.match(r.stderr, /63 key\(s\) for 3\.9\.0 \(st2kv\.system: 61, st2kv\.user: 2; 2 secret\(s\)\)/);
        // Safe to re-run: st2 key load overwrites, nothing doubles.
        assert.equal(runLocal(datastorePipeScript(context()), l).status, 0);
        assert.equal(l.keys("10.9.0.2").length, 63);
    });

    it("move more than 50 keys from 3.8.1 (the paging trap) and from 1.4.0 (no scopes)", () => {
        const many = Array.from({ length: 75 }, (_, i) => ({ name: `k${i}`, value: `v${i}`, scope: "st2kv.system" }));
        const l = lab("3.8.1", "3.9.0", many);
        const r = runLocal(datastorePipeScript(context({ ...OLD, version: "3.8.1" })), l);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(l.keys("10.9.0.2").length, 75);
        assert.deepEqual(l.calls("10.9.0.1")[0].argv, ["key", "list", "-j", "--scope", "all", "-n", "-1", "--decrypt"]);

        const l14 = lab("1.4.0", "2.6.0", [{ name: "a", value: "1" }, { name: "b", value: "2" }]);
        const r14 = runLocal(datastorePipeScript(context({ ...OLD, version: "1.4.0" }, { ...NEW, version: "2.6.0" })), l14);
        assert.equal(r14.status, 0, r14.stderr);
        assert.deepEqual(l14.keys("10.9.0.2"), [
            { name: "a", value: "1", secret: false, scope: "st2kv.system" },
            { name: "b", value: "2", secret: false, scope: "st2kv.system" },
        ]);
    });

    it("fail clearly when st2 key load cannot log in (no credentials: the auth token trap)", () => {
        const l = lab("2.0.1", "3.9.0", keys20(1));
        const r = runLocal(datastorePipeScript(context()), { ...l, env: { ...l.env, ST2U_NEW_ST2_USER: "", ST2U_NEW_ST2_PASSWORD: "" } });
        assert.notEqual(r.status, 0);
        assert.match(
            r.stderr,
            /\[st2-upgrade st2-new\/load\] ERROR: st2 key load failed: ERROR: 401 Client Error: Unauthorized; root's st2 CLI must log in: set rollover\.newHost\.st2 \(username, password\) or write \/root\/\.st2\/config/,
        );
        assert.deepEqual(l.keys("10.9.0.2"), []);
        assert.deepEqual(fs.readdirSync(l.tmp), []);
    });

    it("stop before loading anything when the export is not what the old host's version prints", () => {
        const l = lab("3.8.1", "3.9.0", [{ name: "a", value: "1", scope: "bogus" }]);
        const r = runLocal(datastorePipeScript(context({ ...OLD, version: "3.8.1" })), l);
        assert.notEqual(r.status, 0);
        assert.match(r.stderr, /st2-upgrade convert-cli: item 1 \("a"\) has scope "bogus", which is not a scope of StackStorm 3\.8\.1 \(st2kv\.system or st2kv\.user\)/);
        assert.equal(l.calls("10.9.0.2").filter((c) => c.argv[1] === "load").length, 0);
    });

    it("preflight names the config key when the version is wrong", () => {
        const l = lab("2.2.0", "3.9.0", []);
        const s = preflightScript(OLD, { role: "old", needsGit: false, timeoutSeconds: 60 });
        const r = spawnSync("ssh", ["-i", path.join(l.root, "bin", "st2"), "st2admin@10.9.0.1", s.command], { env: l.env, input: "\n\n", encoding: "utf8" });
        assert.equal(r.status, 1);
        assert.equal(r.stderr, "[st2-upgrade st2-old/preflight-old] ERROR: st2 --version says 'st2 2.2.0', but rollover.oldHost.version is 2.0.1\n");
        const ok = spawnSync("ssh", ["-i", path.join(l.root, "bin", "st2"), "st2admin@10.9.0.2", preflightScript(NEW, { role: "new", needsGit: false, timeoutSeconds: 60 }).command], {
            env: l.env,
            input: `st2admin\n${PASSWORD}\n`,
            encoding: "utf8",
        });
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stdout, /PREFLIGHT \{"role":"new","st2":"3\.9\.0","keys":0\}/);
    });

    it("copy audit logs with their sha256, then verify datastore, packs and copies; verification fails on a changed copy", () => {
        const l = lab("2.0.1", "3.9.0", keys20(3));
        const auditDir = path.join(l.root, "var-log-st2");
        fs.mkdirSync(auditDir);
        fs.writeFileSync(path.join(auditDir, "st2api.audit.log"), '{"event":"api_request"}\n');
        fs.writeFileSync(path.join(auditDir, "st2auth.audit.log.1"), '{"event":"token_issued"}\n');
        fs.writeFileSync(path.join(auditDir, "st2api.log"), "not an audit log\n");
        const destination: AuditDestination = { kind: "local", dir: path.join(l.root, "archive") };
        const c = context();
        const archived = runLocal(archivePipeScript({ oldHost: OLD, old: c.old, ssh: c.ssh, destination, timeoutSeconds: 60, auditLogDir: auditDir }), l);
        assert.equal(archived.status, 0, archived.stderr);
        const lines = archived.stdout.trim().split("\n");
        const logs = lines.filter((x) => x.startsWith("AUDIT_LOG ")).map((x) => x.split(" "));
        assert.deepEqual(logs.map((x) => x[3]).sort(), ["datastore-export.json", "st2api.audit.log", "st2auth.audit.log.1"]);
        const api = logs.find((x) => x[3] === "st2api.audit.log")!;
        assert.equal(api[1], createHash("sha256").update('{"event":"api_request"}\n').digest("hex"));
        assert.equal(api[2], "24");
        assert.equal(lines[lines.length - 1], `AUDIT_DESTINATION ${path.join(l.root, "archive", "st2-old")}`);
        const backup = fs.readFileSync(path.join(l.root, "archive", "st2-old", "datastore-export.json"), "utf8");
        assert.doesNotMatch(backup, /hunter2/, "the datastore backup keeps secrets encrypted");
        assert.equal(fs.statSync(path.join(l.root, "archive", "st2-old", "st2api.audit.log")).mode & 0o777, 0o600);

        // Datastore and packs in place, then verify.
        assert.equal(runLocal(datastorePipeScript(c), l).status, 0);
        const packs = spawnSync("ssh", ["-i", path.join(l.root, "bin", "st2"), "st2admin@10.9.0.2", packsScript(NEW, PACKS3, 60).command], {
            env: l.env,
            input: `st2admin\n${PASSWORD}\n`,
            encoding: "utf8",
        });
        assert.equal(packs.status, 0, packs.stderr);
        assert.match(packs.stdout, /PACKS_INSTALLED \["alpha","beta"\]/);
        const copied = logs.map((x) => ({ name: x[3], sha256: x[1], bytes: Number(x[2]) }));
        const verify = runLocal(verifyScript({ ...c, packs: PACKS3, destination, copied }), l);
        assert.equal(verify.status, 0, verify.stderr);
        assert.match(verify.stdout, /^DATASTORE \{"total":6,"byScope":\{"st2kv\.system":4,"st2kv\.user":2\},"secrets":2,"matched":6,"extra":0\}$/m);
        assert.match(verify.stdout, /^PACKS_PRESENT \["alpha","beta"\]$/m);
        assert.match(verify.stdout, /^AUDIT_VERIFIED 3 /m);
        assert.doesNotMatch(verify.stdout + verify.stderr, /hunter2|n3w-St2-pass/);

        fs.appendFileSync(path.join(l.root, "archive", "st2-old", "st2api.audit.log"), "tampered\n");
        const bad = runLocal(verifyScript({ ...c, packs: PACKS3, destination, copied }), l);
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, new RegExp(`ERROR: .*st2-old/st2api\\.audit\\.log has sha256 [0-9a-f]{64}, but ${api[1]} was copied`));
        assert.deepEqual(fs.readdirSync(l.tmp), []);
    });

    it("install 2.x packs with packs.install, one run per repository, and check them in st2 pack list", () => {
        const l = lab("2.0.1", "2.10.4", []);
        const r = spawnSync("ssh", ["-i", path.join(l.root, "bin", "st2"), "st2admin@10.9.0.2", packsScript({ ...NEW, version: "2.10.4" }, PACKS, 60).command], {
            env: l.env,
            input: `st2admin\n${PASSWORD}\n`,
            encoding: "utf8",
        });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(
            l.calls("10.9.0.2").map((c) => c.argv.join(" ")),
            ["run packs.install packs=alpha repo_url=https://git.example.com/alpha.git", "run packs.install packs=beta,gamma repo_url=https://git.example.com/mono.git", "pack list -j"],
        );
        assert.match(r.stdout, /^PACKS_INSTALLED \["alpha","beta","gamma"\]$/m);
    });

    it("verification names the keys the new host lacks, never their values", () => {
        const l = lab("2.0.1", "3.9.0", keys20(2));
        const c = context();
        const r = runLocal(verifyScript({ ...c, packs: [], destination: { kind: "local", dir: l.root }, copied: [] }), l);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /the datastores differ: 5 key\(s\) of the old host missing on the new host: st2kv\.system:k000, st2kv\.system:k001, st2kv\.system:token, st2kv\.user\/alice:api, st2kv\.user\/alice:pref/);
        assert.doesNotMatch(r.stderr + r.stdout, /hunter2|dark/);
    });
});
