/**
 * rollout.throughBatch (the canary) and rollout.prepareBatchBeforeStop (the old stopOnFirstFailure):
 * the config, the pure scope functions, and the resource graph with Pulumi's mocks (held hosts have
 * no resource; raising the setting adds the next batch and leaves the finished ones' inputs as they were).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import * as pulumi from "@pulumi/pulumi";
import { deprecationWarnings, parseConfig, type PlannedHost, type UpgradeConfig } from "../../components/config";
import { planInputs, StackStormFleet } from "../../components/fleet";
import { plan } from "../../components/plan";
import { batchOf, heldButStarted, heldMessage, rolloutScope } from "../../components/rollout";
import { rejectsConfig } from "../support/config";
import { ResourceRecorder, valueOf } from "../support/mocks";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const HOSTS = [1, 2, 3, 4].map((i) => ({ name: `h${i}`, address: `10.0.0.${i}`, user: "st2", currentVersion: "3.8.1" }));
const good = { targetVersion: "3.9.0", hosts: HOSTS, sshPrivateKey: KEY };
const rejects = (raw: Record<string, unknown>, problems: string[]) => rejectsConfig(() => parseConfig(raw), problems);
const names = HOSTS.map((h) => h.name);

const recorder = new ResourceRecorder();
/** Messages the program logged. */
const logged: string[] = [];

before(async () => {
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                recorder.recordInputs(args.name, args.type, args.inputs);
                const stdout = args.name.endsWith("-verify") ? 'VERIFIED {"version":"3.9.0","packages":{}}\n' : "";
                return { id: `${args.name}-id`, state: { ...args.inputs, stdout, stderr: "" } };
            },
            call: (args) => args.inputs,
        },
        "st2-upgrade",
        "test",
        true,
    );
    // Without an engine, pulumi.log.info prints on the console ("info: [runtime] ...").
    const print = console.log.bind(console);
    console.log = (...a: unknown[]) => {
        logged.push(a.map(String).join(" "));
        print(...a);
    };
});

/** Each host with its plan, as resolveHosts gives them. */
function planned(cfg: UpgradeConfig): PlannedHost[] {
    return cfg.hosts.map((h) => {
        const host = { ...h, currentVersion: h.currentVersion ?? "3.8.1", packageManager: "apt" as const };
        return { host, plan: plan(host.currentVersion, cfg.targetVersion, h.packages, cfg.skipMigrations) };
    });
}

function config(rollout: Record<string, unknown>): UpgradeConfig {
    return parseConfig({ ...good, rollout });
}

async function build(name: string, cfg: UpgradeConfig): Promise<StackStormFleet> {
    const fleet = new StackStormFleet(
        name,
        { hosts: planned(cfg), targetVersion: cfg.targetVersion, privateKey: pulumi.secret(KEY), settings: cfg },
        { transformations: [recorder.transformation] },
    );
    await valueOf(fleet.report);
    await recorder.settle();
    return fleet;
}

const resourcesOf = (prefix: string) => [...recorder.resources.entries()].filter(([n]) => n.startsWith(prefix));

describe("rollout config", () => {
    it("reads throughBatch, and prepareBatchBeforeStop defaults to true", () => {
        assert.deepEqual(config({ batchSize: 2, throughBatch: 1 }).rollout, { batchSize: 2, prepareBatchBeforeStop: true, throughBatch: 1 });
        assert.deepEqual(config({ prepareBatchBeforeStop: false }).rollout, { batchSize: 1, prepareBatchBeforeStop: false });
    });

    it("reads the deprecated stopOnFirstFailure as prepareBatchBeforeStop, with a warning", () => {
        for (const v of [true, false]) {
            assert.deepEqual(config({ stopOnFirstFailure: v }).rollout, { batchSize: 1, prepareBatchBeforeStop: v });
            assert.deepEqual(config({ stopOnFirstFailure: v, prepareBatchBeforeStop: v }).rollout, { batchSize: 1, prepareBatchBeforeStop: v });
            const [w, ...more] = deprecationWarnings({ ...good, rollout: { stopOnFirstFailure: v } });
            assert.deepEqual(more, []);
            assert.equal(
                w,
                "st2-upgrade:rollout.stopOnFirstFailure is deprecated: it is read as rollout.prepareBatchBeforeStop (no host of a batch stops its " +
                    `services before every host of the batch is prepared; nothing stops on a failure). Rename it: rollout: { prepareBatchBeforeStop: ${v} }`,
            );
        }
        assert.deepEqual(deprecationWarnings({ ...good, rollout: { prepareBatchBeforeStop: false } }), []);
        assert.deepEqual(deprecationWarnings(good), []);
    });

    it("refuses both names set differently, and a bad throughBatch", () => {
        rejects({ ...good, rollout: { stopOnFirstFailure: true, prepareBatchBeforeStop: false } }, [
            "st2-upgrade:rollout.stopOnFirstFailure is the deprecated name of rollout.prepareBatchBeforeStop and contradicts it (true vs false): remove it. " +
                "Example: true (deprecated: write rollout.prepareBatchBeforeStop)",
        ]);
        rejects({ ...good, rollout: { throughBatch: 0 } }, ["st2-upgrade:rollout.throughBatch must be a whole number from 1 to 1000. Example: 1 (upgrade batch 1 only, the canary; raise it to continue)"]);
        rejects({ ...good, rollout: { throughbatch: 1 } }, ["st2-upgrade:rollout.throughbatch is not a known setting: did you mean st2-upgrade:rollout.throughBatch?"]);
    });
});

describe("rollout scope", () => {
    it("holds exactly the hosts of the batches after throughBatch (fast-check)", () => {
        fc.assert(
            fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 10 }), fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }), (n, size, through) => {
                const hs = Array.from({ length: n }, (_, i) => `x${i}`);
                const scope = rolloutScope(hs, { batchSize: size, prepareBatchBeforeStop: true, ...(through ? { throughBatch: through } : {}) });
                assert.equal(scope.batches, Math.ceil(n / size));
                assert.equal(scope.throughBatch, Math.min(through ?? scope.batches, scope.batches));
                assert.deepEqual(scope.held, hs.filter((_, i) => through !== undefined && batchOf(i, size) > through));
                // A raised setting never holds a host a lower one released.
                if (through) assert.ok(rolloutScope(hs, { batchSize: size, prepareBatchBeforeStop: true, throughBatch: through + 1 }).held.every((h) => scope.held.includes(h)));
            }),
            { numRuns: 200 },
        );
    });

    it("says which batches and hosts are held, and how to continue", () => {
        assert.equal(heldMessage(names, { batchSize: 1, prepareBatchBeforeStop: true }), undefined);
        assert.equal(heldMessage(names, { batchSize: 2, prepareBatchBeforeStop: true, throughBatch: 2 }), undefined);
        assert.equal(
            heldMessage(names, { batchSize: 1, prepareBatchBeforeStop: true, throughBatch: 1 }),
            "st2-upgrade:rollout.throughBatch is 1: batches 2-4 held (h2, h3, h4): no step exists for them and nothing touches them. Set rollout.throughBatch to 2 to continue",
        );
        assert.equal(
            heldMessage(names, { batchSize: 2, prepareBatchBeforeStop: true, throughBatch: 1 }),
            "st2-upgrade:rollout.throughBatch is 1: batch 2 held (h3, h4): no step exists for them and nothing touches them. Set rollout.throughBatch to 2 to continue",
        );
    });

    it("refuses to hold a host whose upgrade this stack already started", () => {
        const rollout = { batchSize: 1, prepareBatchBeforeStop: true, throughBatch: 1 };
        assert.deepEqual(heldButStarted(names, rollout, (n) => n === "h1"), []);
        assert.deepEqual(heldButStarted(names, rollout, (n) => n === "h2"), [
            "st2-upgrade:rollout.throughBatch is 1 but this stack already started upgrading h2 (batch 2): a batch that has begun cannot be held again. Example: rollout: { throughBatch: 2 }",
        ]);
        assert.deepEqual(heldButStarted(names, rollout, (n) => n === "h2" || n === "h4"), [
            "st2-upgrade:rollout.throughBatch is 1 but this stack already started upgrading h2, h4 (batch up to 4): a batch that has begun cannot be held again. Example: rollout: { throughBatch: 4 }",
        ]);
    });
});

describe("rollout graph (mocks)", () => {
    it("creates no resource for a held host and reports it held, with the batch that releases it", async () => {
        const fleet = await build("c1", config({ batchSize: 2, throughBatch: 1 }));
        assert.deepEqual(resourcesOf("c1-h3"), []);
        assert.deepEqual(resourcesOf("c1-h4"), []);
        assert.ok(resourcesOf("c1-h1-").length > 0 && resourcesOf("c1-h2-").length > 0);
        const report = await valueOf(fleet.report);
        assert.deepEqual(report.map((r) => [r.name, r.batch, r.status, r.heldUntilBatch]), [
            ["h1", 1, "upgraded", undefined],
            ["h2", 1, "upgraded", undefined],
            ["h3", 2, "held", 2],
            ["h4", 2, "held", 2],
        ]);
        assert.deepEqual(report[2].steps, []);
        assert.deepEqual(await valueOf(fleet.rollout), {
            batches: 2, throughBatch: 1, held: ["h3", "h4"], batchSize: 2, released: ["h1", "h2"], complete: false, nextThroughBatch: 2,
        });
        assert.ok(logged.some((l) => l.includes("st2-upgrade:rollout.throughBatch is 1: batch 2 held (h3, h4)")), logged.join("\n"));
    });

    it("raised, adds the next batch after the first one's verify and gives the first batch the same inputs", async () => {
        await build("c2", config({ batchSize: 2, throughBatch: 1 }));
        const fleet = await build("c3", config({ batchSize: 2, throughBatch: 2 }));
        const inputs = (prefix: string) => new Map(resourcesOf(prefix).map(([n, r]) => [n.slice(prefix.length), JSON.stringify(r.inputs).replaceAll(prefix, "")]));
        const [first, raised] = [inputs("c2-"), inputs("c3-")];
        assert.ok(first.size > 0);
        for (const [step, i] of first) assert.equal(raised.get(step), i, `${step} must not change when throughBatch is raised`);
        assert.ok([...raised.keys()].some((k) => k.startsWith("h3-")));
        assert.deepEqual([...recorder.get("c3-h3-preflight").dependsOn].sort(), ["c3-h1-verify", "c3-h2-verify"]);
        assert.deepEqual((await valueOf(fleet.rollout)).complete, true);
        assert.equal((await valueOf(fleet.rollout)).nextThroughBatch, undefined);
    });

    it("throughBatch beyond the last batch holds nothing", async () => {
        const fleet = await build("c4", config({ batchSize: 3, throughBatch: 7 }));
        assert.deepEqual((await valueOf(fleet.report)).map((r) => r.status), ["upgraded", "upgraded", "upgraded", "upgraded"]);
        assert.deepEqual(await valueOf(fleet.rollout), { batches: 2, throughBatch: 2, held: [], batchSize: 3, released: names, complete: true });
    });
});

describe("the fleet's inputs (update plans)", () => {
    it("hold every setting, no secret, and change when a setting changes", async () => {
        const a = config({ batchSize: 2 });
        const inputs = planInputs({ hosts: planned(a), targetVersion: a.targetVersion, settings: a });
        assert.doesNotMatch(JSON.stringify(inputs), /PRIVATE KEY|AAAA/);
        assert.deepEqual(Object.keys(inputs).sort(), ["backup", "hosts", "mistral", "preflight", "rollout", "skipMigrations", "ssh", "targetVersion", "timeouts", "verify"]);
        assert.deepEqual(inputs.hosts, HOSTS.map(({ name, address, user }) => ({ name, address, port: 22, user })));
        // The engine records them as the component's inputs, before any step.
        await build("p1", a);
        assert.deepEqual(recorder.get("p1").inputs.settings, JSON.parse(JSON.stringify(inputs)));
        const b = parseConfig({ ...good, rollout: { batchSize: 2 }, verify: { smokeCommand: "st2 run core.local -- uptime" } });
        await build("p2", b);
        assert.notDeepEqual(recorder.get("p2").inputs.settings, recorder.get("p1").inputs.settings);
    });
});
