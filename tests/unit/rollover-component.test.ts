/**
 * ContentRollover with Pulumi's mocks: its commands, their order and parents, what is secret, that
 * no secret is in any command's text, and that the same config gives the same inputs (a second
 * `pulumi up` runs nothing).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ContentRollover, defaultConverter, parseCopied, parseKeysMoved, type ContentRolloverArgs } from "../../components/rollover/component";
import { ResourceRecorder, SECRET_SIGNATURE, valueOf } from "../support/mocks";

const OLD_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nOLDKEYMATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";
const NEW_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nNEWKEYMATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";
const PASSWORD = "n3w-St2-pass";
const OLD_PASSWORD = "0ld-St2-pass";
const SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

const recorder = new ResourceRecorder();
const resources = recorder.resources;

const record = recorder.transformation;

function stdoutFor(name: string): string {
    if (name.endsWith("-audit-logs")) return `AUDIT_LOG ${SHA} 24 st2api.audit.log\nAUDIT_LOG ${SHA} 10 datastore-export.json\nAUDIT_DESTINATION /work/st2-audit-logs/st2-old\n`;
    if (name.endsWith("-verify")) return 'DATASTORE {"total":4,"byScope":{"st2kv.system":3,"st2kv.user":1},"secrets":1,"matched":4,"extra":0}\nPACKS_PRESENT ["alpha"]\nAUDIT_VERIFIED 2 st2-audit-logs/st2-old\n';
    if (name.endsWith("-packs")) return 'PACKS_INSTALLED ["alpha"]\n';
    return "";
}

before(async () => {
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                recorder.recordInputs(args.name, args.type, args.inputs);
                return { id: `${args.name}-id`, state: { ...args.inputs, stdout: stdoutFor(args.name), stderr: "" } };
            },
            call: (args) => args.inputs,
        },
        "st2-upgrade",
        "test",
        true,
    );
});

/** Something a roll-over may have to wait for. */
class Gate extends pulumi.CustomResource {
    constructor(name: string) {
        super("test:index:Gate", name, {}, { transformations: [record] });
    }
}

function args(overrides: Partial<ContentRolloverArgs> = {}): ContentRolloverArgs {
    return {
        oldHost: { name: "st2-old", address: "10.0.0.11", port: 22, user: "stackstorm", privateKey: pulumi.secret(OLD_KEY), version: "3.8.1", st2: { username: "st2admin", password: pulumi.secret(OLD_PASSWORD) } },
        newHost: { name: "st2-new", address: "10.0.0.21", port: 2222, user: "stackstorm", privateKey: pulumi.secret(NEW_KEY), version: "3.9.0", st2: { username: "st2admin", password: pulumi.secret(PASSWORD) } },
        packs: [{ name: "alpha", repoUrl: "https://git.example.com/alpha.git" }],
        auditLogs: { kind: "local", dir: "st2-audit-logs" },
        converter: ["node", "dist/components/rollover/convert-cli.js"],
        ...overrides,
    };
}

async function build(name: string, a: ContentRolloverArgs): Promise<ContentRollover> {
    const r = new ContentRollover(name, a, { transformations: [record] });
    await valueOf(r.keysMoved);
    await valueOf(r.auditLogs);
    for (let i = 0; i < 5; i++) {
        await recorder.settle();
        await new Promise((res) => setTimeout(res, 20));
    }
    return r;
}

const commandsOf = (prefix: string) => [...resources.entries()].filter(([n, r]) => n.startsWith(prefix) && r.type.startsWith("command:"));

/** Every string inside an input value, secrets unwrapped. */
function strings(v: unknown): string[] {
    if (typeof v === "string") return [v];
    if (Array.isArray(v)) return v.flatMap(strings);
    if (v && typeof v === "object") return Object.values(v).flatMap(strings);
    return [];
}

describe("ContentRollover", () => {
    it("chains preflight, datastore, packs, audit logs and verify, each a child depending on the one before", async () => {
        const r = await build("ro1", args());
        const chain = commandsOf("ro1-").map(([n, c]) => [n.slice("ro1-".length), c.type]);
        assert.deepEqual(chain, [
            ["preflight-old", "command:remote:Command"],
            ["preflight-new", "command:remote:Command"],
            ["datastore", "command:local:Command"],
            ["packs", "command:remote:Command"],
            ["audit-logs", "command:local:Command"],
            ["verify", "command:local:Command"],
        ]);
        assert.deepEqual(resources.get("ro1-preflight-old")!.dependsOn, []);
        for (let i = 1; i < chain.length; i++) assert.deepEqual(resources.get(`ro1-${chain[i][0]}`)!.dependsOn, [`ro1-${chain[i - 1][0]}`]);
        for (const [, c] of commandsOf("ro1-")) {
            assert.equal(c.parent, "ro1");
            assert.equal(c.inputs.addPreviousOutputInEnv, false);
        }
        assert.equal(resources.get("ro1")!.type, "st2upgrade:rollover:ContentRollover");
        assert.deepEqual(await valueOf(r.steps), ["ro1-preflight-old", "ro1-preflight-new", "ro1-datastore", "ro1-packs", "ro1-audit-logs", "ro1-verify"]);
    });

    it("reports keys per scope, packs and copied logs from the commands' output", async () => {
        const r = await build("ro2", args());
        assert.deepEqual(await valueOf(r.keysMoved), { total: 4, byScope: { "st2kv.system": 3, "st2kv.user": 1 }, secrets: 1, matched: 4, extra: 0 });
        assert.deepEqual(await valueOf(r.packsInstalled), ["alpha"]);
        assert.deepEqual(await valueOf(r.auditLogs), {
            destination: "/work/st2-audit-logs/st2-old",
            files: [{ name: "st2api.audit.log", sha256: SHA, bytes: 24 }, { name: "datastore-export.json", sha256: SHA, bytes: 10 }],
        });
        assert.equal(await valueOf(r.fromVersion), "3.8.1");
        assert.equal(await valueOf(r.toVersion), "3.9.0");
        // Verification checks the destination against the hashes the copy recorded.
        assert.match(String(resources.get("ro2-verify")!.inputs.create), new RegExp(`check_copy st2api\\.audit\\.log ${SHA}`));
    });

    it("puts no secret in any command's text or triggers; keys and passwords travel as secret inputs", async () => {
        await build("ro3", args());
        for (const [name, c] of commandsOf("ro3-")) {
            for (const field of ["create", "triggers"]) {
                for (const s of strings(c.inputs[field])) assert.doesNotMatch(s, /PRIVATE KEY|KEYMATERIAL|n3w-St2-pass|0ld-St2-pass/, `${name}.${field}`);
            }
            if (c.type === "command:remote:Command") {
                const stdin = c.inputs.stdin as Record<string, unknown>;
                assert.equal(stdin[SECRET_SIGNATURE], "1b47061264138c4ac30d75fd1eb44270", `${name}: stdin is secret`);
                assert.equal((c.inputs.connection as Record<string, unknown>)[SECRET_SIGNATURE], "1b47061264138c4ac30d75fd1eb44270", `${name}: connection is secret`);
            } else {
                const env = c.inputs.environment as Record<string, unknown>;
                assert.equal(env[SECRET_SIGNATURE], "1b47061264138c4ac30d75fd1eb44270", `${name}: environment is secret`);
                const values = env.value as Record<string, string>;
                assert.equal(values.ST2U_NEW_ST2_PASSWORD, PASSWORD);
                assert.equal(values.ST2U_OLD_SSH_KEY, OLD_KEY);
                assert.deepEqual(c.inputs.interpreter, ["/bin/bash", "-c"]);
            }
        }
        // The pipe that carries decrypted values keeps even its (count-only) output secret.
        assert.deepEqual(resources.get("ro3-datastore")!.secretOutputs, ["stdout", "stderr"]);
        assert.equal(resources.get("ro3-verify")!.secretOutputs, undefined);
        // The old host's credentials reach its steps on stdin: user, then password.
        assert.equal((resources.get("ro3-preflight-old")!.inputs.stdin as { value: string }).value, `st2admin\n${OLD_PASSWORD}\n`);
    });

    it("guards the traps: every key listed (-n -1), secrets decrypted and re-encrypted by the new host, key load authenticated", async () => {
        await build("ro4", args());
        const pipe = String(resources.get("ro4-datastore")!.inputs.create);
        assert.match(pipe, /st2 key list -j --scope all -n -1 --decrypt >/);
        assert.match(pipe, /^ {2}\| node dist\/components\/rollover\/convert-cli\.js convert --from 3\.8\.1 --to 3\.9\.0 \\$/m);
        assert.match(pipe, /export ST2_CONFIG_FILE="\$work\/cli\.conf"/);
        // What st2 key load prints (the keys it stored) stays in the private work folder; its ERROR line alone is reported.
        assert.match(pipe, /st2 key load "\$work\/keys\.json" >"\$work\/out" 2>"\$work\/err"/);
        assert.match(pipe, /\| \{ new_credentials; cat; \}/);
        assert.match(pipe, /ssh -i "\$work\/new\.key" -p 2222 /);
        assert.match(pipe, /stackstorm@10\.0\.0\.21 "\$@"/);
        const verify = String(resources.get("ro4-verify")!.inputs.create);
        assert.match(verify, /st2 key list -j --scope all -n -1 >/);
        assert.doesNotMatch(verify, /--decrypt/);
    });

    it("gives identical inputs for the same config and new triggers for a new target (a second up runs nothing)", async () => {
        await build("s1", args());
        await build("s2", args());
        await build("s3", args({ newHost: { ...args().newHost, address: "10.0.0.22" } }));
        const strip = (prefix: string) => new Map(commandsOf(prefix).map(([n, r]) => [n.slice(prefix.length), r.inputs]));
        const [a, b, c] = [strip("s1-"), strip("s2-"), strip("s3-")];
        assert.equal(a.size, 6);
        for (const [step, inputs] of a) assert.equal(JSON.stringify(b.get(step)), JSON.stringify(inputs), step);
        for (const [step, inputs] of c) assert.notDeepEqual(inputs.triggers, a.get(step)!.triggers, `${step} re-runs for another new host`);
    });

    it("skips the packs step without packs, writes to S3 when asked, and waits for what it is told to start after", async () => {
        const gate = new Gate("gate-1");
        await build("ro5", args({ packs: [], auditLogs: { kind: "s3", bucket: pulumi.output("acme-archive"), prefix: "st2-rollover" }, startAfter: [gate] }));
        assert.deepEqual(commandsOf("ro5-").map(([n]) => n), ["ro5-preflight-old", "ro5-preflight-new", "ro5-datastore", "ro5-audit-logs", "ro5-verify"]);
        assert.deepEqual(resources.get("ro5-preflight-old")!.dependsOn, ["gate-1"]);
        const archive = String(resources.get("ro5-audit-logs")!.inputs.create);
        assert.match(archive, /aws s3 cp --recursive --only-show-errors "\$snap\/" "\$dest\/"/);
        assert.match(archive, /dest=s3:\/\/acme-archive\/st2-rollover\/st2-old/);
        assert.ok((resources.get("ro5-audit-logs")!.inputs.triggers as string[]).includes("s3://acme-archive/st2-rollover"));
    });

    it("refuses, at construction, a roll-over that cannot work", () => {
        assert.throws(() => new ContentRollover("bad", args({ newHost: { ...args().newHost, version: "3.8.0" } })), /refusing to convert a 3\.8\.1 datastore for 3\.8\.0/);
        assert.throws(
            () => new ContentRollover("bad2", args({ packs: [{ name: "a", repoUrl: "https://g/x.git" }, { name: "b", repoUrl: "https://g/x.git" }] })),
            /pack b: repoUrl is also the repository of a/,
        );
    });

    it("runs the converter beside the component: the compiled file, relative to the project when inside it", () => {
        const cli = path.resolve(__dirname, "../../components/rollover/convert-cli.js");
        const relative = path.relative(process.cwd(), cli);
        assert.deepEqual(defaultConverter(), ["node", relative.startsWith("..") ? cli : relative]);
    });

    it("parses the commands' markers", () => {
        assert.equal(parseKeysMoved("nothing\n"), undefined);
        assert.equal(parseCopied("no destination\n"), undefined);
        assert.deepEqual(parseCopied(`AUDIT_LOG ${SHA} 0 a b.log\nAUDIT_DESTINATION s3://x/y\n`), { destination: "s3://x/y", files: [{ name: "a b.log", sha256: SHA, bytes: 0 }] });
    });
});
