// Properties of parseConfig, with fast-check. Valid stack configs are generated from what each key
// documents (README, components/config.ts); so are values each key must refuse, independently of the
// checks themselves. Every valid config parses and round-trips; every config with one bad value is
// refused with a ConfigError naming that key, with no internals in the message. A check missing from
// the schema (a blank smoke command once passed) makes the second property fail with the case.
// (The engine-level check that no host is touched is in tests/e2e/faults.test.ts.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import * as semver from "semver";
import { executableMigrationIds, knownReleases, PACKAGE_NAMES } from "../../components/catalog";
import type { z } from "zod";
import { ConfigError, objectShapeAt, parseConfig, UPGRADE_SHAPE } from "../../components/config";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const RELEASES = knownReleases();

// Valid values, by what the key documents.
const alnum = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
const word = (chars: string, max: number) => fc.string({ unit: fc.constantFrom(...chars), minLength: 0, maxLength: max });
const hostName = fc.tuple(alnum, word("abcdefghijklmnopqrstuvwxyz0123456789-", 20)).map(([a, b]) => a + b);
const address = fc.oneof(fc.ipV4(), fc.domain());
const user = fc.tuple(fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz_"), word("abcdefghijklmnopqrstuvwxyz0123456789_-", 12)).map(([a, b]) => a + b);
const absolutePath = fc.array(word("abcdefghijklmnopqrstuvwxyz0123456789._-", 8).filter((s) => s.length > 0), { maxLength: 4 }).map((parts) => `/${parts.join("/")}`);
const service = fc.tuple(alnum, word("abcdefghijklmnopqrstuvwxyz0123456789@._-", 12)).map(([a, b]) => a + b);
const command = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim() !== "");
const int = (min: number, max: number) => fc.integer({ min, max });
/** An SSH string: 4-byte length, then the bytes. */
const sshString = (b: Uint8Array): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(b.length);
    return Buffer.concat([length, Buffer.from(b)]);
};
/** A host's public key as ssh-keyscan prints it (ed25519: 32 bytes; ECDSA P-256: an uncompressed point), with or without a comment. */
const hostKey = fc.oneof(
    fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) => `ssh-ed25519 ${Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(k)]).toString("base64")}`),
    fc.uint8Array({ minLength: 64, maxLength: 64 }).map(
        (p) => `ecdsa-sha2-nistp256 ${Buffer.concat([sshString(Buffer.from("ecdsa-sha2-nistp256")), sshString(Buffer.from("nistp256")), sshString(Buffer.from([4, ...p]))]).toString("base64")} root@st2-a`,
    ),
);

/** A version pair the catalog can plan: from at most to. */
const versions = fc.tuple(fc.constantFrom(...RELEASES), fc.constantFrom(...RELEASES)).map(([a, b]) => (semver.lte(a, b) ? [a, b] : [b, a]));

/** Optional keys may be left out: the parser fills the default. */
const some = <T>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(shape, { requiredKeys: [] });

const validConfig = versions.chain(([from, to]) =>
    fc.record(
        {
            targetVersion: fc.constant(to),
            hosts: fc.uniqueArray(
                fc.record(
                    {
                        name: hostName,
                        address,
                        port: int(1, 65535),
                        user,
                        packageManager: fc.constantFrom("apt", "yum"),
                        currentVersion: fc.constant(from),
                        sshPrivateKey: fc.constant(KEY),
                        hostKey,
                    },
                    { requiredKeys: ["name", "address", "user", "currentVersion"] },
                ),
                { minLength: 1, maxLength: 3, selector: (h) => h.name },
            ),
            sshPrivateKey: fc.constant(KEY),
            skipMigrations: fc.subarray(executableMigrationIds()),
            ssh: some({ dialAttempts: int(1, 100), dialTimeoutSeconds: int(1, 600), knownHostsFile: fc.oneof(absolutePath, fc.constant("~/.ssh/known_hosts")), requireHostKey: fc.boolean() }),
            mistral: some({ configFile: absolutePath, dbManage: absolutePath, services: fc.array(service, { maxLength: 3 }) }),
            rollout: some({ batchSize: int(1, 1000), prepareBatchBeforeStop: fc.boolean(), throughBatch: int(1, 1000) }),
            backup: some({ dir: absolutePath, keep: int(1, 100), extraPaths: fc.array(absolutePath, { maxLength: 3 }) }),
            preflight: some({ minFreeMb: int(0, 1048576) }),
            timeouts: some({ step: int(1, 86400), packages: int(1, 86400), mistralDb: int(1, 86400), migration: int(1, 86400) }),
            verify: some({ smokeCommand: command, settleSeconds: int(0, 3600) }),
        },
        { requiredKeys: ["targetVersion", "hosts", "sshPrivateKey"] },
    ),
);

// Values each kind of key must refuse.
const notANumber = fc.constantFrom<unknown>("12", null, true, [], {});
const wholeOutside = (min: number, max: number) => fc.oneof(fc.constantFrom<unknown>(min - 1, max + 1, min + 0.5), fc.integer({ max: min - 1 }), fc.integer({ min: max + 1 }), notANumber);
const notText = fc.constantFrom<unknown>(42, null, true, ["x"], {});
const blank = fc.constantFrom("", " ", "  ", "\t", "\n");
const BAD: Record<string, fc.Arbitrary<unknown>> = {
    targetVersion: fc.oneof(fc.constantFrom<unknown>("3.10.0", "3.9", "v3.9.0", "latest"), blank, notText),
    "hosts[].name": fc.oneof(fc.constantFrom<unknown>("st2 a", "-st2", "st2_a", "a".repeat(64), "st2.a"), blank, notText),
    "hosts[].address": fc.oneof(fc.constantFrom<unknown>("a b", "-x", "x;rm -rf /", "10.0.0.1/24", "st2-a."), blank, notText),
    "hosts[].port": wholeOutside(1, 65535),
    "hosts[].user": fc.oneof(fc.constantFrom<unknown>("Root", "1st", "a b", "st2;id"), blank, notText),
    "hosts[].packageManager": fc.oneof(fc.constantFrom<unknown>("dnf", "APT", "zypper"), blank, notText),
    "hosts[].currentVersion": fc.oneof(fc.constantFrom<unknown>("3.10.0", "2.0", "latest"), blank, notText),
    "hosts[].packages": fc.constantFrom<unknown>([], ["nginx"], "st2", [PACKAGE_NAMES[0], 1], null),
    "hosts[].sshPrivateKey": fc.oneof(fc.constantFrom<unknown>("hunter2", "ssh-ed25519 AAAA user@host"), blank, notText),
    sshPrivateKey: fc.oneof(fc.constantFrom<unknown>("hunter2", "ssh-ed25519 AAAA user@host"), blank, notText),
    "skipMigrations[]": fc.oneof(fc.constantFrom<unknown>("no-such-migration"), blank, notText),
    "ssh.dialAttempts": wholeOutside(1, 100),
    "ssh.dialTimeoutSeconds": wholeOutside(1, 600),
    "ssh.knownHostsFile": fc.oneof(blank, notText),
    "ssh.requireHostKey": fc.constantFrom<unknown>("yes", "true", 1, 0, null),
    // RSA (SHA-1 only with pulumi-command 1.2.1), a truncated key, no type, an unknown type, a blob of another type.
    "hosts[].hostKey": fc.oneof(
        fc.constantFrom<unknown>(
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
            "AAAAC3NzaC1lZDI1NTE5AAAAIKXIXVf187SUd9PP8SSP12TSiKjBPwgRKaeXJOch2lFA",
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
            "ssh-ed25519 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBC4+E6T2/9Z6keOD+HvgXkM/ebjtv/7FKw9tOAT8W+4iO/gGNlHSXMR1IMIoE+JUWmA98fvEHixyVPjelGHu8Mo=",
        ),
        blank,
        notText,
    ),
    "mistral.configFile": fc.oneof(fc.constantFrom<unknown>("etc/mistral.conf", "~/mistral.conf", "/a\nb"), blank, notText),
    "mistral.dbManage": fc.oneof(fc.constantFrom<unknown>("bin/mistral-db-manage"), blank, notText),
    "mistral.services[]": fc.oneof(fc.constantFrom<unknown>("mistral api", "x;reboot", "$(id)"), blank, notText),
    "rollout.batchSize": wholeOutside(1, 1000),
    "rollout.prepareBatchBeforeStop": fc.constantFrom<unknown>("yes", "true", 1, 0, null),
    "rollout.stopOnFirstFailure": fc.constantFrom<unknown>("yes", "true", 1, 0, null),
    "rollout.throughBatch": wholeOutside(1, 1000),
    "backup.dir": fc.oneof(fc.constantFrom<unknown>("backups", "./backups"), blank, notText),
    "backup.keep": wholeOutside(1, 100),
    "backup.extraPaths[]": fc.oneof(fc.constantFrom<unknown>("relative/dir"), blank, notText),
    "restore.acceptLoss": fc.constantFrom<unknown>("yes", "true", 1, 0, null),
    "preflight.minFreeMb": wholeOutside(0, 1048576),
    "timeouts.step": wholeOutside(1, 86400),
    "timeouts.packages": wholeOutside(1, 86400),
    "timeouts.mistralDb": wholeOutside(1, 86400),
    "timeouts.migration": wholeOutside(1, 86400),
    "verify.smokeCommand": fc.oneof(blank, notText),
    "verify.settleSeconds": wholeOutside(0, 3600),
};

/** The failing check's own message goes into the report, beside the shrunk counterexample. */
const runs = (numRuns: number) => ({ numRuns, includeErrorInReport: true });

type Path = (string | number)[];
const keyName = (path: Path) => path.reduce<string>((a, p) => (typeof p === "number" ? `${a}[${p}]` : a ? `${a}.${p}` : p), "");
const pattern = (path: Path) => keyName(path).replace(/\[\d+\]/g, "[]");

/** Where a value can be replaced: every leaf of `config`, list elements included. */
function places(value: unknown, prefix: Path = []): Path[] {
    if (Array.isArray(value)) return value.length ? value.flatMap((v, i) => places(v, [...prefix, i])) : [prefix];
    if (value && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => places(v, [...prefix, k]));
    return [prefix];
}

function setAt(root: Record<string, unknown>, path: Path, value: unknown): void {
    let node = root as Record<string | number, unknown>;
    for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, unknown>;
    node[path[path.length - 1]] = value;
}

/** A valid config with one place given a value its key must refuse. */
const invalidConfig = validConfig.chain((config) => {
    const targets = places(config).filter((p) => BAD[pattern(p)] !== undefined);
    // A whole list may be bad too (`packages: []`); a list left empty by the generator is a place of its own.
    const lists = [["hosts", 0, "packages"] as Path];
    return fc.constantFrom(...targets, ...lists).chain((path) => BAD[pattern(path)].map((bad) => ({ config, path, bad })));
});

/** The same config with an unknown key in one of its objects. */
const unknownKey = validConfig.chain((config) => {
    const objects: Path[] = [[], ...Object.keys(config).filter((k) => typeof (config as Record<string, unknown>)[k] === "object" && !Array.isArray((config as Record<string, unknown>)[k])).map((k) => [k]), ["hosts", 0]];
    return fc.tuple(fc.constantFrom(...objects), fc.constantFrom("unexpected", "batchsize", "Port", "smoke_command")).map(([path, key]) => ({ config, path: [...path, key], bad: 1 }));
});

function assertRefusedNaming(config: Record<string, unknown>, path: Path): void {
    const key = keyName(path);
    try {
        parseConfig(config);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
        assert.ok(
            // The key itself, or an element of it (`packages: ["nginx"]` is named `packages[0]`).
            e.problems.some((p) => [" ", "[", "."].some((next) => p.startsWith(`st2-upgrade:${key}${next}`))),
            `no problem names st2-upgrade:${key}:\n  ${e.problems.join("\n  ")}`,
        );
        for (const p of e.problems) {
            assert.match(p, /^st2-upgrade:[A-Za-z]/);
            assert.doesNotMatch(p, /ZodError|\[object Object\]|at .*\.js:\d+|undefined|Invalid input|expected .* to have/);
            assert.doesNotMatch(p, /AAAA|hunter2/, "a problem echoes a key");
        }
        return;
    }
    assert.fail(`accepted st2-upgrade:${key} = ${JSON.stringify(path.reduce<unknown>((n, p) => (n as Record<string | number, unknown>)[p], config))}`);
}

/** `hosts[].port`, `rollout.batchSize`, ...: the leaf keys of a shape, lists of objects stepped into. */
function leafKeys(shape: Readonly<Record<string, z.ZodType>>, prefix = ""): string[] {
    return Object.entries(shape).flatMap(([k, schema]) => {
        const key = prefix ? `${prefix}.${k}` : k;
        const inner = objectShapeAt(schema, []);
        if (inner) return leafKeys(inner, key);
        const element = objectShapeAt(schema, [0]);
        return element ? leafKeys(element, `${key}[]`) : [key];
    });
}

/** `sub` with every value it has found again, equal, in `whole`. */
function assertKept(sub: unknown, whole: unknown, at = "config"): void {
    if (Array.isArray(sub)) {
        assert.ok(Array.isArray(whole) && whole.length === sub.length, `${at}: a list of ${sub.length}`);
        sub.forEach((v, i) => assertKept(v, whole[i], `${at}[${i}]`));
    } else if (sub && typeof sub === "object") {
        for (const [k, v] of Object.entries(sub)) assertKept(v, (whole as Record<string, unknown>)[k], `${at}.${k}`);
    } else {
        assert.deepEqual(whole, sub, at);
    }
}

describe("parseConfig properties (fast-check)", () => {
    it("accepts every valid config, keeps every value given and round-trips its own output", () => {
        fc.assert(
            fc.property(validConfig, (config) => {
                const parsed = parseConfig(config);
                assertKept(config, parsed);
                assert.deepEqual(parseConfig(parsed), parsed);
            }),
            runs(150),
        );
    });

    it("accepts sshPrivateKeyPath in place of sshPrivateKey", () => {
        fc.assert(
            fc.property(validConfig, absolutePath, (config, keyPath) => {
                const { sshPrivateKey: _, ...rest } = config;
                assert.equal(parseConfig({ ...rest, sshPrivateKeyPath: keyPath }).sshPrivateKeyPath, keyPath);
            }),
            runs(30),
        );
    });

    it("refuses every config with one bad value or one unknown key, naming that key", () => {
        fc.assert(
            fc.property(fc.oneof({ arbitrary: invalidConfig, weight: 4 }, { arbitrary: unknownKey, weight: 1 }), ({ config, path, bad }) => {
                const mutant = structuredClone(config) as Record<string, unknown>;
                setAt(mutant, path, bad);
                assertRefusedNaming(mutant, path);
            }),
            runs(500),
        );
    });

    it("refuses a blank sshPrivateKeyPath and a path set beside a key", () => {
        fc.assert(
            fc.property(validConfig, blank, (config, b) => {
                const { sshPrivateKey: _, ...rest } = config;
                assertRefusedNaming({ ...rest, sshPrivateKeyPath: b }, ["sshPrivateKeyPath"]);
                assertRefusedNaming({ ...config, sshPrivateKeyPath: "/root/.ssh/id" }, ["sshPrivateKeyPath"]);
            }),
            runs(30),
        );
    });

    it("has bad values for every leaf key of the schema", () => {
        // A key added to the schema without bad values here would never be fuzzed. sshPrivateKeyPath
        // has a property of its own above (it excludes sshPrivateKey).
        const leaves = leafKeys(UPGRADE_SHAPE).filter((k) => k !== "sshPrivateKeyPath");
        assert.ok(leaves.length >= 28, leaves.join(", "));
        for (const k of leaves) assert.ok(BAD[k] ?? BAD[`${k}[]`], `no bad values for ${k}`);
    });
});
