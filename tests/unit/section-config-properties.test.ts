// Properties of the `rollover` and `aws` sections (fast-check): a key the schema does not have, at any
// object of a valid section, is refused with a problem naming it, and with the key it resembles when
// it is one letter short of one. The places come from the schemas themselves (objectShapeAt), so a
// new object or field is covered without an edit here.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { z } from "zod";
import { AWS_SCHEMA, parseAwsConfig } from "../../components/aws/config";
import { ConfigError, objectShapeAt } from "../../components/config";
import { parseRolloverConfig, ROLLOVER_SCHEMA } from "../../components/rollover/config";

const runs = (numRuns: number) => ({ numRuns, includeErrorInReport: true });
type Path = (string | number)[];

const ROLLOVER = {
    oldHost: { name: "st2-old", address: "10.0.0.11", user: "stackstorm", version: "2.0.1" },
    newHost: { name: "st2-new", address: "10.0.0.21", user: "stackstorm", version: "3.9.0", st2: { username: "st2admin", password: "p4ss" } },
    packs: [{ name: "my_pack", repoUrl: "https://git.example.com/st2/my_pack.git" }],
    auditLogs: { destination: "local" },
    timeouts: { step: 600 },
};
const AWS = {
    instance: { sshCidr: "203.0.113.7/32", sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA operator@example.com" },
    bucket: {},
    discovery: { tags: { "st2-upgrade:fleet": "prod" } },
};
const SECTIONS: { name: string; value: Record<string, unknown>; schema: z.ZodType; parse: (raw: unknown) => unknown }[] = [
    { name: "rollover", value: ROLLOVER, schema: ROLLOVER_SCHEMA, parse: (raw) => parseRolloverConfig(raw, { hasDefaultKey: true, awsInstance: false, awsBucket: false }) },
    { name: "aws", value: AWS, schema: AWS_SCHEMA, parse: parseAwsConfig },
];

/** Paths of the objects in `value` that the schema types as objects with known keys. */
function objectPaths(schema: z.ZodType, value: unknown, prefix: Path = []): Path[] {
    if (Array.isArray(value)) return value.flatMap((v, i) => objectPaths(schema, v, [...prefix, i]));
    if (!value || typeof value !== "object" || !objectShapeAt(schema, prefix)) return [];
    return [prefix, ...Object.entries(value).flatMap(([k, v]) => objectPaths(schema, v, [...prefix, k]))];
}

const keyName = (path: Path) => path.reduce<string>((a, p) => (typeof p === "number" ? `${a}[${p}]` : a ? `${a}.${p}` : p), "");

function refusal(parse: () => unknown): string[] {
    try {
        parse();
    } catch (e) {
        assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
        return e.problems;
    }
    return [];
}

describe("rollover and aws sections (fast-check)", () => {
    for (const section of SECTIONS) {
        it(`${section.name}: the valid example parses`, () => {
            assert.doesNotThrow(() => section.parse(section.value));
        });

        it(`${section.name}: refuses an unknown key at any object, naming it`, () => {
            const places = objectPaths(section.schema, section.value);
            assert.ok(places.length >= 3, JSON.stringify(places));
            const unknownKey = fc.oneof(fc.constantFrom("unexpected", "x"), fc.stringMatching(/^[a-z][a-zA-Z]{2,12}$/));
            fc.assert(
                fc.property(fc.constantFrom(...places), unknownKey, (path, key) => {
                    const known = Object.keys(objectShapeAt(section.schema, path)!);
                    fc.pre(!known.includes(key));
                    const mutant = structuredClone(section.value) as Record<string, unknown>;
                    const target = path.reduce<unknown>((n, p) => (n as Record<string | number, unknown>)[p], mutant) as Record<string, unknown>;
                    target[key] = 1;
                    const full = `st2-upgrade:${keyName([section.name, ...path, key])} is not a known setting`;
                    const problems = refusal(() => section.parse(mutant));
                    assert.ok(problems.some((p) => p.startsWith(full)), `no problem names ${full}:\n  ${problems.join("\n  ")}`);
                }),
                runs(150),
            );
        });

        it(`${section.name}: suggests the known key one letter away`, () => {
            const places = objectPaths(section.schema, section.value);
            fc.assert(
                fc.property(fc.constantFrom(...places), fc.nat(), (path, pick) => {
                    const known = Object.keys(objectShapeAt(section.schema, path)!).filter((k) => k.length >= 6);
                    fc.pre(known.length > 0);
                    const key = known[pick % known.length];
                    const typo = key.slice(0, -1);
                    fc.pre(!known.includes(typo));
                    const mutant = structuredClone(section.value) as Record<string, unknown>;
                    (path.reduce<unknown>((n, p) => (n as Record<string | number, unknown>)[p], mutant) as Record<string, unknown>)[typo] = 1;
                    const problems = refusal(() => section.parse(mutant));
                    const hint = `did you mean st2-upgrade:${keyName([section.name, ...path, key])}?`;
                    assert.ok(problems.some((p) => p.endsWith(hint)), `no "${hint}":\n  ${problems.join("\n  ")}`);
                }),
                runs(100),
            );
        });
    }
});
