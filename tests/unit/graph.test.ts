/**
 * The resource graph, with Pulumi's mocks: which commands exist, what each depends on, and that
 * the same target gives the same inputs while a new target changes the triggers.
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig, type UpgradeConfig } from "../../components/config";
import { StackStormFleet } from "../../components/fleet";
import { plan } from "../../components/plan";
import { ResourceRecorder, SECRET_SIGNATURE, valueOf } from "../support/mocks";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const recorder = new ResourceRecorder();
const resources = recorder.resources;

const record = recorder.transformation;

before(async () => {
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                recorder.recordInputs(args.name, args.type, args.inputs);
                const stdout = args.name.endsWith("-verify")
                    ? 'VERIFIED {"version":"3.9.0","packages":{}}\n'
                    : args.name.endsWith("-backup")
                      ? "BACKUP_PATH=/var/backups/st2-upgrade/x\n"
                      : args.name.endsWith("-preflight")
                        ? '[st2-upgrade x/preflight] st2 3.8.1-1 installed\nPREFLIGHT {"distro":"debian 12","st2":"3.8.1-1","freeMb":5000,"packages":{"st2":"3.8.1-1"}}\n'
                        : "";
                return { id: `${args.name}-id`, state: { ...args.inputs, stdout, stderr: "" } };
            },
            call: (args) => args.inputs,
        },
        "st2-upgrade",
        "test",
        true,
    );
});

function config(overrides: Record<string, unknown> = {}): UpgradeConfig {
    return parseConfig({
        targetVersion: "3.9.0",
        hosts: [1, 2, 3, 4].map((i) => ({ name: `h${i}`, address: `10.0.0.${i}`, user: "st2", currentVersion: "2.0.1" })),
        sshPrivateKey: KEY,
        rollout: { batchSize: 2 },
        ...overrides,
    });
}

async function build(name: string, cfg: UpgradeConfig): Promise<StackStormFleet> {
    const fleet = new StackStormFleet(
        name,
        {
            hosts: cfg.hosts.map((h) => ({
                host: { ...h, currentVersion: h.currentVersion!, packageManager: h.packageManager ?? "apt" },
                plan: plan(h.currentVersion!, cfg.targetVersion, h.packages, cfg.skipMigrations),
            })),
            targetVersion: cfg.targetVersion,
            privateKey: pulumi.secret(KEY),
            settings: cfg,
        },
        { transformations: [record] },
    );
    await valueOf(fleet.report);
    // Let registrations and transformations settle.
    await recorder.settle();
    return fleet;
}

const commandsOf = (prefix: string) => [...resources.entries()].filter(([n, r]) => n.startsWith(prefix) && r.type === "command:remote:Command");

describe("resource graph", () => {
    it("chains every step of a host in runbook order, each depending on the one before", async () => {
        await build("g1", config());
        const chain = commandsOf("g1-h1-").map(([n]) => n.slice("g1-h1-".length));
        assert.deepEqual(chain, [
            "preflight", "fetch", "backup", "stop",
            "packages-3.0.1", "mistral-db-3.0.1", "migrate-2.1-datastore-scopes", "migrate-2.1-runners",
            "migrate-2.3-notifier-queue", "migrate-2.8-workflow-engine-logging", "migrate-2.9-timers-engine-logging",
            "packages-3.9.0", "migrate-3.9-database-tls", "start", "verify",
        ]);
        for (let i = 1; i < chain.length; i++) {
            const deps = resources.get(`g1-h1-${chain[i]}`)!.dependsOn;
            assert.ok(deps.includes(`g1-h1-${chain[i - 1]}`), `${chain[i]} must depend on ${chain[i - 1]}: ${deps}`);
        }
        for (const [name, r] of commandsOf("g1-h1-")) {
            assert.equal(r.parent, "g1-h1", `${name} is a child of its host`);
            assert.deepEqual((r.inputs.triggers as string[]).slice(0, 2), ["2.0.1", "3.9.0"]);
            assert.equal(r.inputs.addPreviousOutputInEnv, false);
        }
        assert.equal(resources.get("g1-h1")!.parent, "g1");
        assert.equal(resources.get("g1-h1")!.type, "st2upgrade:host:StackStormHost");
    });

    it("starts batch 2 only after every host of batch 1 verified", async () => {
        await build("g2", config());
        assert.deepEqual([...resources.get("g2-h3-preflight")!.dependsOn].sort(), ["g2-h1-verify", "g2-h2-verify"]);
        assert.deepEqual([...resources.get("g2-h4-preflight")!.dependsOn].sort(), ["g2-h1-verify", "g2-h2-verify"]);
        assert.deepEqual(resources.get("g2-h1-preflight")!.dependsOn, []);
    });

    it("stops no host of a batch before every host of the batch made its backup", async () => {
        await build("g3", config());
        assert.deepEqual([...resources.get("g3-h1-stop")!.dependsOn].sort(), ["g3-h1-backup", "g3-h2-backup"]);
        assert.deepEqual([...resources.get("g3-h4-stop")!.dependsOn].sort(), ["g3-h3-backup", "g3-h4-backup"]);
        await build("g4", config({ rollout: { batchSize: 2, prepareBatchBeforeStop: false } }));
        assert.deepEqual(resources.get("g4-h1-stop")!.dependsOn, ["g4-h1-backup"]);
    });

    it("gives identical inputs for the same target (a second up runs nothing) and new triggers for a new target", async () => {
        await build("s1", config());
        await build("s2", config());
        await build("s3", config({ targetVersion: "3.8.1" }));
        const strip = (prefix: string) => new Map(commandsOf(prefix).map(([n, r]) => [n.slice(prefix.length), r.inputs]));
        const [a, b, c] = [strip("s1-"), strip("s2-"), strip("s3-")];
        assert.equal(a.size, 60);
        for (const [step, inputs] of a) {
            const other = b.get(step)!;
            // Host and step names in the script text carry the fleet's name; nothing else may differ.
            assert.equal(JSON.stringify(other).replaceAll("s2-", "s1-"), JSON.stringify(inputs).replaceAll("s2-", "s1-"), step);
        }
        for (const [step, inputs] of c) {
            const old = a.get(step);
            if (old) assert.notDeepEqual(inputs.triggers, old.triggers, `${step} must be replaced for a new target`);
        }
        assert.ok(c.has("h1-verify") && !c.has("h1-migrate-3.9-database-tls"));
    });

    it("reports per host what a pipeline gates on", async () => {
        const fleet = await build("r1", config({ hosts: [{ name: "solo", address: "10.0.0.9", user: "st2", currentVersion: "3.8.1" }] }));
        const [report] = await valueOf(fleet.report);
        assert.equal(report.name, "solo");
        assert.equal(report.fromVersion, "3.8.1");
        assert.equal(report.targetVersion, "3.9.0");
        assert.deepEqual(report.migrations, ["3.9-database-tls"]);
        assert.equal(report.verifiedVersion, "3.9.0");
        assert.equal(report.backupPath, "/var/backups/st2-upgrade/x");
        assert.deepEqual(report.detected, { distro: "debian 12", st2: "3.8.1-1", freeMb: 5000, packages: { st2: "3.8.1-1" } });
        assert.deepEqual(report.steps.map((s) => s.name), ["r1-solo-preflight", "r1-solo-fetch", "r1-solo-backup", "r1-solo-stop", "r1-solo-packages-3.9.0", "r1-solo-migrate-3.9-database-tls", "r1-solo-start", "r1-solo-verify"]);
        assert.deepEqual(await valueOf(fleet.batches), [["solo"]]);
    });

    it("creates nothing for a host already at the target", async () => {
        await build("n1", config({ hosts: [{ name: "done", address: "10.0.0.9", user: "st2", currentVersion: "3.9.0" }] }));
        assert.deepEqual(commandsOf("n1-"), []);
    });

    it("keeps the SSH key secret", async () => {
        await build("k1", config({ hosts: [{ name: "k", address: "10.0.0.9", user: "st2", currentVersion: "3.8.1" }] }));
        const [, r] = commandsOf("k1-k-")[0];
        // The engine receives the whole connection as a secret value (Pulumi's secret signature).
        const conn = r.inputs.connection as Record<string, unknown>;
        assert.equal(conn[SECRET_SIGNATURE], "1b47061264138c4ac30d75fd1eb44270");
        assert.equal((conn.value as Record<string, unknown>).host, "10.0.0.9");
        for (const [, cmd] of commandsOf("k1-")) assert.doesNotMatch(String(cmd.inputs.create), /PRIVATE KEY/);
    });

    it("gives every step the host's pinned key as connection.hostKey, and none to an unpinned host", async () => {
        const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKXIXVf187SUd9PP8SSP12TSiKjBPwgRKaeXJOch2lFA";
        await build("p1", config({ hosts: [{ name: "pinned", address: "10.0.0.7", user: "st2", currentVersion: "3.8.1", hostKey }, { name: "open", address: "10.0.0.8", user: "st2", currentVersion: "3.8.1" }] }));
        const hostKeys = (prefix: string) => commandsOf(prefix).map(([, r]) => ((r.inputs.connection as Record<string, unknown>).value as Record<string, unknown>).hostKey);
        assert.ok(hostKeys("p1-pinned-").length > 0);
        assert.deepEqual(new Set(hostKeys("p1-pinned-")), new Set([hostKey]));
        assert.deepEqual(new Set(hostKeys("p1-open-")), new Set([undefined]));
    });
});
