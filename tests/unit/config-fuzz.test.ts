// Thirty malformed stack configs, made by mutating a good one along the schema's keys with a seeded
// generator: each is rejected with a ConfigError whose message names the mutated key, says what is
// wrong and carries no internals. (The engine-level check that no host is touched is in
// tests/e2e/faults.test.ts.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, parseConfig } from "../../components/config";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const GOOD = {
    targetVersion: "3.9.0",
    hosts: [
        { name: "st2-a", address: "10.0.0.11", port: 22, user: "stackstorm", packageManager: "apt", currentVersion: "2.0.1" },
        { name: "st2-b", address: "10.0.0.12", port: 22, user: "stackstorm", packageManager: "yum", currentVersion: "3.2.0" },
    ],
    sshPrivateKey: KEY,
    skipMigrations: [],
    ssh: { dialAttempts: 3, dialTimeoutSeconds: 15 },
    mistral: { configFile: "/etc/mistral/mistral.conf", dbManage: "/opt/stackstorm/mistral/bin/mistral-db-manage", services: ["mistral-api", "mistral"] },
    rollout: { batchSize: 1, stopOnFirstFailure: true },
    backup: { dir: "/var/backups/st2-upgrade", keep: 3, extraPaths: [] },
    preflight: { minFreeMb: 1024 },
    timeouts: { step: 600, packages: 1800, mistralDb: 1800, migration: 3600 },
    verify: { smokeCommand: "st2 run core.local -- date -R", settleSeconds: 60 },
};

/** Leaf paths of the good config: where mutations land. */
function leaves(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    if (value && typeof value === "object" && !(Array.isArray(value) && value.length === 0)) {
        return Object.entries(value).flatMap(([k, v]) => leaves(v, [...prefix, Array.isArray(value) ? Number(k) : k]));
    }
    return [prefix];
}

/** Mulberry32: a small seeded generator, so the 30 cases are the same on every run. */
function generator(seed: number): () => number {
    return () => {
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

/** Values wrong for any field of this schema: wrong types, out of range, malformed text. */
function wrongFor(original: unknown, pick: () => number): unknown {
    const candidates: unknown[] =
        typeof original === "number"
            ? ["12", -1, 0.5, 10_000_000, null]
            : typeof original === "boolean"
              ? ["yes", 1, null]
              : typeof original === "string"
                ? [42, "", "  ", "relative/path", "3.9", null, ["x"]]
                : [42, "text", null];
    return candidates[Math.floor(pick() * candidates.length)];
}

function setPath(obj: Record<string, unknown>, path: (string | number)[], value: unknown): void {
    let node = obj as Record<string | number, unknown>;
    for (const p of path.slice(0, -1)) node = node[p] as Record<string | number, unknown>;
    if (value === undefined) delete node[path[path.length - 1]];
    else node[path[path.length - 1]] = value;
}

const keyName = (path: (string | number)[]) => path.reduce<string>((a, p) => (typeof p === "number" ? `${a}[${p}]` : a ? `${a}.${p}` : p), "");

describe("30 malformed configs fuzzed from the schema", () => {
    const pick = generator(20261125);
    const paths = leaves(GOOD).filter((p) => keyName(p) !== "sshPrivateKey");
    const cases: { label: string; config: Record<string, unknown>; key: string }[] = [];
    while (cases.length < 30) {
        const config = structuredClone(GOOD) as Record<string, unknown>;
        const path = paths[Math.floor(pick() * paths.length)];
        const original = path.reduce<unknown>((node, p) => (node as Record<string | number, unknown>)[p], config);
        const mode = pick();
        let label: string;
        if (mode < 0.15 && path.length > 1) {
            setPath(config, [...path.slice(0, -1), "unexpected"], 1);
            label = `unknown key beside ${keyName(path)}`;
            path.splice(path.length - 1, 1, "unexpected");
        } else {
            const bad = wrongFor(original, pick);
            // Some values are valid for some fields (e.g. "" is never, but 0 is for minFreeMb): keep only rejections.
            setPath(config, path, bad);
            label = `${keyName(path)} = ${JSON.stringify(bad)}`;
        }
        try {
            parseConfig(config);
        } catch {
            cases.push({ label, config, key: keyName(path) });
        }
    }

    for (const c of cases) {
        it(`rejects ${c.label}`, () => {
            assert.throws(
                () => parseConfig(c.config),
                (e: unknown) => {
                    assert.ok(e instanceof ConfigError);
                    const named = e.problems.filter((p) => p.startsWith(`st2-upgrade:${c.key}`) || p.startsWith(`st2-upgrade:${c.key.replace(/\.[^.[]+$/, "")}`));
                    assert.ok(named.length > 0, `names ${c.key}: ${e.message}`);
                    for (const p of e.problems) {
                        assert.match(p, /^st2-upgrade:[A-Za-z]/);
                        assert.doesNotMatch(p, /ZodError|\[object Object\]|at .*\.js:\d+|undefined\)/);
                    }
                    return true;
                },
            );
        });
    }
});
