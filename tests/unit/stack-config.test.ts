/**
 * What the program reads of the stack configuration (components/stack-config.ts), and the program
 * itself (index.ts) under Pulumi's mocks fed the way the README configures a stack:
 * `pulumi config set --secret st2-upgrade:sshPrivateKey < key`.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, beforeEach, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, holdsSecret, UPGRADE_SHAPE } from "../../components/config";
import { fakeFacts, useFactsFile } from "../../lab/support/facts";
import { decodeStackConfig, readStackConfig, STACK_KEYS } from "../../components/stack-config";
import { rejectsConfig } from "../support/config";
import { SECRET_SIGNATURE, valueOf } from "../support/mocks";
import program = require("../../index");

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const HOSTS = JSON.stringify([{ name: "st2-a", address: "10.0.0.11", user: "stackstorm", currentVersion: "3.8.1" }]);

const registered: { name: string; type: string; inputs: Record<string, unknown> }[] = [];

before(async () => {
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                registered.push({ name: args.name, type: args.type, inputs: args.inputs });
                return { id: `${args.name}-id`, state: { ...args.inputs, stdout: "", stderr: "" } };
            },
            call: (args) => args.inputs,
        },
        "st2-upgrade",
        "test",
        true,
        "organization",
    );
    // Facts as a previous run reported them (the hosts do not exist): ubuntu 20.04 running 3.8.1.
    useFactsFile(fs.mkdtempSync(path.join(os.tmpdir(), "st2-facts-")), process.env, { "st2-a": fakeFacts("3.8.1") });
});

/** The stack's config as `pulumi config set` leaves it: texts by full key, and which are secret. */
function setStackConfig(values: Record<string, string>, secret: readonly string[] = []): void {
    pulumi.runtime.setAllConfig(
        Object.fromEntries(Object.entries(values).map(([k, v]) => [`st2-upgrade:${k}`, v])),
        secret.map((k) => `st2-upgrade:${k}`),
    );
}

const rejects = rejectsConfig;

describe("stack config keys", () => {
    it("knows exactly the schemas' keys: the upgrade's and the two sections", () => {
        assert.deepEqual(Object.keys(STACK_KEYS).sort(), [...Object.keys(UPGRADE_SHAPE), "rollover", "aws"].sort());
        assert.ok(Object.keys(UPGRADE_SHAPE).includes("verify"));
    });

    it("marks as secret the keys whose schema holds a key or a password", () => {
        const secret = Object.entries(STACK_KEYS)
            .filter(([, s]) => holdsSecret(s))
            .map(([k]) => k)
            .sort();
        assert.deepEqual(secret, ["hosts", "rollover", "sshPrivateKey"]);
    });

    it("refuses a misspelt top-level key, naming the key it resembles", () => {
        rejects(() => decodeStackConfig({ targetVersion: "3.9.0", rolout: '{"batchSize":2}' }), ["st2-upgrade:rolout is not a known setting: did you mean st2-upgrade:rollout?"]);
        rejects(() => decodeStackConfig({ sshPrivatekey: KEY }), ["st2-upgrade:sshPrivatekey is not a known setting: did you mean st2-upgrade:sshPrivateKey?"]);
    });

    it("refuses an unknown key with no near match, listing the known ones", () => {
        rejects(
            () => decodeStackConfig({ colour: "blue" }),
            [`st2-upgrade:colour is not a known setting (a typo?). Known settings here: ${Object.keys(STACK_KEYS).join(", ")}`],
        );
    });

    it("keeps text keys as text and decodes the others as JSON", () => {
        const raw = decodeStackConfig({ targetVersion: "3.9.0", hosts: HOSTS, rollout: '{"batchSize":2}', sshPrivateKeyPath: "~/.ssh/id", rollover: "{}", aws: "not json" });
        assert.deepEqual(raw.upgrade, { targetVersion: "3.9.0", hosts: JSON.parse(HOSTS), rollout: { batchSize: 2 }, sshPrivateKeyPath: "~/.ssh/id" });
        assert.deepEqual(raw.rollover, {});
        assert.equal(raw.aws, "not json");
    });
});

describe("reading the stack's config", () => {
    beforeEach(() => (registered.length = 0));

    it("reads a key holding a secret with requireSecret, the others with require", async () => {
        setStackConfig({ targetVersion: "3.9.0", hosts: HOSTS, sshPrivateKey: KEY }, ["sshPrivateKey"]);
        const calls: string[] = [];
        class Recording extends pulumi.Config {
            override require<K extends string = string>(key: string): K {
                calls.push(`require ${key}`);
                return super.require<K>(key);
            }
            override requireSecret<K extends string = string>(key: string): pulumi.Output<K> {
                calls.push(`requireSecret ${key}`);
                return super.requireSecret<K>(key);
            }
        }
        const raw = await readStackConfig(new Recording("st2-upgrade"));
        assert.deepEqual(calls.sort(), ["require targetVersion", "requireSecret hosts", "requireSecret sshPrivateKey"]);
        assert.equal(raw.upgrade.sshPrivateKey, KEY);
    });

    it("refuses a misspelt key of the stack before any resource exists", async () => {
        setStackConfig({ targetVersion: "3.9.0", hosts: HOSTS, sshPrivateKey: KEY, rolout: '{"batchSize":2}' }, ["sshPrivateKey"]);
        // the program ends with a RunError carrying the ConfigError's message (components/run-error.ts)
        await assert.rejects(program(), (e: unknown) => {
            assert.ok(pulumi.RunError.isInstance(e), String(e));
            assert.equal(e.message, new ConfigError(["st2-upgrade:rolout is not a known setting: did you mean st2-upgrade:rollout?"]).message);
            return true;
        });
        assert.deepEqual(registered, []);
    });
    it("runs the program with the key set by `pulumi config set --secret st2-upgrade:sshPrivateKey`, keeping it secret", async () => {
        setStackConfig({ targetVersion: "3.9.0", hosts: HOSTS, sshPrivateKey: KEY }, ["sshPrivateKey"]);
        const outputs = await program();
        assert.equal(outputs.targetVersion, "3.9.0");
        await new Promise((r) => setTimeout(r, 50));
        const commands = registered.filter((r) => r.type === "command:remote:Command");
        assert.ok(commands.length > 0, "the program made no command");
        for (const c of commands) {
            const conn = c.inputs.connection as Record<string, unknown>;
            assert.equal(conn[SECRET_SIGNATURE], "1b47061264138c4ac30d75fd1eb44270", `${c.name}: connection not secret`);
            assert.equal((conn.value as Record<string, unknown>).privateKey, KEY, `${c.name}: the key read from config`);
            assert.doesNotMatch(JSON.stringify(c.inputs.create), /PRIVATE KEY/);
        }
        assert.ok(outputs.hosts);
        assert.doesNotMatch(JSON.stringify(await valueOf(outputs.hosts)), /PRIVATE KEY/);
    });
});
