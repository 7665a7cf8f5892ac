/**
 * The AWS parts with Pulumi's mocks (no AWS is reachable): the archive bucket's protections, the
 * instance's security group, user data and readiness command, the roll-over waiting for that
 * command, and fleet discovery by tags. Their scripts pass shellcheck.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { ArchiveBucket, tlsOnlyPolicy } from "../../components/aws/bucket";
import { parseAwsConfig } from "../../components/aws/config";
import { discoverHosts, hostName, toHostConfigs } from "../../components/aws/discovery";
import { BOOTSTRAP_USER, CANONICAL_OWNER, readyScript, St2Instance, userDataScript } from "../../components/aws/instance";
import { ConfigError } from "../../components/config";
import { ContentRollover } from "../../components/rollover/component";
import { rolloverStack } from "../../components/rollover/stack";
import { ResourceRecorder, SECRET_SIGNATURE, valueOf } from "../support/mocks";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nKEYMATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperator operator@example.com";
const PASSWORD = "n3w-St2-pass";
const recorder = new ResourceRecorder();
const resources = recorder.resources;
const calls: { token: string; inputs: Record<string, unknown> }[] = [];

const record = recorder.transformation;

/** Fleet instances the mocked EC2 API knows. */
const INSTANCES: Record<string, { tags: Record<string, string>; privateIp: string; publicIp: string }> = {
    "i-0bbb": { tags: { Name: "st2 prod/b", "st2-upgrade:fleet": "prod", "st2-upgrade:version": "3.8.1" }, privateIp: "10.0.1.12", publicIp: "" },
    "i-0aaa": { tags: { Name: "st2-prod-a", "st2-upgrade:fleet": "prod", "st2-upgrade:version": "2.10.4" }, privateIp: "10.0.1.11", publicIp: "198.51.100.11" },
};

before(async () => {
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                recorder.recordInputs(args.name, args.type, args.inputs);
                const extra: Record<string, unknown> =
                    args.type === "aws:ec2/instance:Instance"
                        ? { publicIp: "203.0.113.50", privateIp: "10.0.1.5" }
                        : args.type === "aws:s3/bucket:Bucket"
                          ? { bucket: args.inputs.bucket ?? `st2-upgrade-${args.name}`, arn: `arn:aws:s3:::${args.inputs.bucket ?? `st2-upgrade-${args.name}`}` }
                          : args.type === "aws:ec2/keyPair:KeyPair"
                            ? { keyName: `${args.name}-kp` }
                            : args.name.endsWith("-audit-logs")
                              ? { stdout: "AUDIT_DESTINATION s3://x/y\n" }
                              : {};
                return { id: `${args.name}-id`, state: { ...args.inputs, stdout: "", stderr: "", ...extra } };
            },
            call: (args) => {
                calls.push({ token: args.token, inputs: args.inputs });
                if (args.token === "aws:ec2/getAmi:getAmi") return { id: "ami-0123456789abcdef0", ...args.inputs };
                if (args.token === "aws:ec2/getInstances:getInstances") return { ids: Object.keys(INSTANCES), privateIps: [], publicIps: [] };
                if (args.token === "aws:ec2/getInstance:getInstance") return { id: args.inputs.instanceId, ...INSTANCES[args.inputs.instanceId as string] };
                return args.inputs;
            },
        },
        "st2-upgrade",
        "test",
        true,
    );
});

async function settle(...outputs: pulumi.Output<unknown>[]): Promise<void> {
    for (const o of outputs) await valueOf(o);
    for (let i = 0; i < 5; i++) {
        await recorder.settle();
        await new Promise((res) => setTimeout(res, 20));
    }
}

function instance(name: string, overrides: Partial<ConstructorParameters<typeof St2Instance>[1]> = {}): St2Instance {
    const cfg = parseAwsConfig({ instance: { sshCidr: "203.0.113.7/32", sshPublicKey: PUBLIC_KEY } }).instance!;
    return new St2Instance(
        name,
        {
            st2Version: "3.9.0",
            sshCidr: cfg.sshCidr,
            sshPublicKey: cfg.sshPublicKey,
            privateKey: pulumi.secret(KEY),
            sshUser: "ubuntu",
            st2User: { username: "st2admin", password: pulumi.secret(PASSWORD) },
            instanceType: cfg.instanceType,
            publicIp: cfg.publicIp,
            rootVolumeGb: cfg.rootVolumeGb,
            installerUrl: cfg.installerUrl,
            readyTimeoutSeconds: cfg.readyTimeoutSeconds,
            ...overrides,
        },
        { transformations: [record] },
    );
}

describe("ArchiveBucket", () => {
    it("is versioned, encrypted, private, ACL-free and TLS-only", async () => {
        const b = new ArchiveBucket("arch", { forceDestroy: false }, { transformations: [record] });
        await settle(b.bucketName, b.arn);
        assert.equal(resources.get("arch")!.type, "aws:s3/bucket:Bucket");
        assert.equal(resources.get("arch")!.parent, "arch");
        assert.equal(resources.get("arch")!.inputs.bucketPrefix, "st2-upgrade-");
        assert.equal(resources.get("arch")!.inputs.forceDestroy, false);
        assert.deepEqual(resources.get("arch-versioning")!.inputs.versioningConfiguration, { status: "Enabled" });
        assert.deepEqual(resources.get("arch-encryption")!.inputs.rules, [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: false }]);
        const pab = resources.get("arch-public-access")!.inputs;
        assert.deepEqual([pab.blockPublicAcls, pab.blockPublicPolicy, pab.ignorePublicAcls, pab.restrictPublicBuckets], [true, true, true, true]);
        assert.deepEqual(resources.get("arch-ownership")!.inputs.rule, { objectOwnership: "BucketOwnerEnforced" });
        for (const child of ["arch-versioning", "arch-encryption", "arch-public-access", "arch-ownership", "arch-tls-only"]) {
            assert.equal(resources.get(child)!.inputs.bucket, "arch-id", `${child} applies to the bucket`);
            assert.equal(resources.get(child)!.parent, "arch");
        }
        assert.equal(resources.get("arch-tls-only")!.inputs.policy, tlsOnlyPolicy("arn:aws:s3:::st2-upgrade-arch"));
        assert.deepEqual(JSON.parse(tlsOnlyPolicy("arn:aws:s3:::b")).Statement[0].Condition, { Bool: { "aws:SecureTransport": "false" } });
        assert.deepEqual([...resources.get("arch-tls-only")!.dependsOn].sort(), ["arch-ownership", "arch-public-access"]);
        assert.equal(await valueOf(b.bucketName), "st2-upgrade-arch");
    });

    it("uses SSE-KMS with a given key and an exact name when configured", async () => {
        const b = new ArchiveBucket("kms", { bucketName: "acme-st2-archive", forceDestroy: true, kmsKeyId: "arn:aws:kms:eu-west-1:111122223333:key/k" }, { transformations: [record] });
        await settle(b.bucketName);
        assert.equal(resources.get("kms")!.inputs.bucket, "acme-st2-archive");
        assert.deepEqual(resources.get("kms-encryption")!.inputs.rules, [
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "arn:aws:kms:eu-west-1:111122223333:key/k" }, bucketKeyEnabled: true },
        ]);
    });
});

describe("St2Instance", () => {
    it("opens SSH from the configured CIDR only and installs StackStorm at the target version without a password in user data", async () => {
        const i = instance("st2new");
        await settle(i.address, i.amiId);
        assert.equal(resources.get("st2new")!.type, "st2upgrade:aws:St2Instance");
        const sg = resources.get("st2new-ssh")!;
        assert.equal(sg.parent, "st2new");
        assert.deepEqual(sg.inputs.ingress, [{ description: "SSH from the machine running Pulumi", protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["203.0.113.7/32"] }]);
        const ec2 = resources.get("st2new-instance")!;
        assert.equal(ec2.parent, "st2new");
        assert.equal(ec2.inputs.ami, "ami-0123456789abcdef0");
        assert.equal(ec2.inputs.instanceType, "t3.large");
        assert.deepEqual(ec2.inputs.vpcSecurityGroupIds, ["st2new-ssh-id"]);
        assert.equal(ec2.inputs.keyName, "st2new-key-kp");
        assert.deepEqual(ec2.inputs.rootBlockDevice, { volumeSize: 40, volumeType: "gp3", encrypted: true, deleteOnTermination: true });
        assert.deepEqual(ec2.inputs.metadataOptions, { httpTokens: "required", httpEndpoint: "enabled" });
        assert.equal(ec2.inputs.userDataReplaceOnChange, true);
        const userData = String(ec2.inputs.userData);
        assert.match(userData, /^#!\/bin\/bash\n/);
        assert.match(userData, /bash "\$installer" --version=3\.9\.0 --user=st2upgrade-bootstrap --password="\$bootstrap_password"/);
        assert.match(userData, /curl -fsSL --retry 5 -o "\$installer" https:\/\/stackstorm\.com\/packages\/install\.sh/);
        assert.doesNotMatch(userData, /n3w-St2-pass|PRIVATE KEY/);
        assert.equal(resources.get("st2new-key")!.inputs.publicKey, PUBLIC_KEY);
        assert.deepEqual((ec2.inputs.tags as Record<string, string>)["st2-upgrade:version"], "3.9.0");
        assert.equal(await valueOf(i.address), "203.0.113.50");
    });

    it("looks up Canonical's Ubuntu for the target release", async () => {
        const i = instance("st2focal", { st2Version: "3.6.0" });
        await settle(i.amiId);
        const ami = calls.filter((c) => c.token === "aws:ec2/getAmi:getAmi").map((c) => c.inputs);
        assert.ok(ami.some((a) => JSON.stringify(a.filters).includes("ubuntu-jammy-22.04-amd64-server-*")), "3.9.0 runs on jammy");
        const focal = ami.find((a) => JSON.stringify(a.filters).includes("ubuntu-focal-20.04-amd64-server-*"))!;
        assert.deepEqual(focal.owners, [CANONICAL_OWNER]);
        assert.equal(focal.mostRecent, true);
        const explicit = instance("st2ami", { ami: "ami-0fedcba9876543210" });
        await settle(explicit.amiId);
        assert.equal(await valueOf(explicit.amiId), "ami-0fedcba9876543210");
    });

    it("waits for cloud-init with a command that sets the st2 user from stdin, a secret", async () => {
        const i = instance("st2rdy", { publicIp: false });
        await settle(i.address);
        const ready = resources.get("st2rdy-ready")!;
        assert.equal(ready.type, "command:remote:Command");
        assert.equal(ready.parent, "st2rdy");
        assert.deepEqual(ready.dependsOn, ["st2rdy-instance"]);
        assert.match(String(ready.inputs.create), /cloud-init status --wait/);
        assert.match(String(ready.inputs.create), /htpasswd -i \/etc\/st2\/htpasswd "\$st2_user"/);
        assert.doesNotMatch(String(ready.inputs.create), /n3w-St2-pass|KEYMATERIAL/);
        const stdin = ready.inputs.stdin as Record<string, unknown>;
        assert.equal(stdin[SECRET_SIGNATURE], "1b47061264138c4ac30d75fd1eb44270");
        assert.equal(stdin.value, `st2admin\n${PASSWORD}\n`);
        const conn = ready.inputs.connection as { value: Record<string, unknown> };
        assert.equal(conn.value.host, "10.0.1.5", "no public IP: the private address");
        assert.equal(conn.value.user, "ubuntu");
        assert.ok((conn.value.dialErrorLimit as number) >= 30, "the instance boots before sshd answers");
        assert.deepEqual(ready.inputs.triggers, ["st2rdy-instance-id", "3.9.0", "st2admin"]);
        assert.equal(await valueOf(i.address), "10.0.1.5");
    });

    it("is what the roll-over's first step waits for, and gives the roll-over its address", async () => {
        const i = instance("st2tgt");
        const rollover = new ContentRollover(
            "ro",
            {
                oldHost: { name: "st2-old", address: "10.0.0.11", port: 22, user: "stackstorm", privateKey: pulumi.secret(KEY), version: "2.10.4" },
                newHost: { name: "st2tgt", address: i.address, port: 22, user: "ubuntu", privateKey: pulumi.secret(KEY), version: "3.9.0", st2: { username: "st2admin", password: pulumi.secret(PASSWORD) } },
                auditLogs: { kind: "s3", bucket: pulumi.output("acme"), prefix: "p" },
                startAfter: [i.ready],
            },
            { transformations: [record] },
        );
        await settle(rollover.keysMoved, i.address);
        assert.deepEqual(resources.get("ro-preflight-old")!.dependsOn, ["st2tgt-ready"]);
        const conn = resources.get("ro-preflight-new")!.inputs.connection as { value: Record<string, unknown> };
        assert.equal(conn.value.host, "203.0.113.50");
        assert.match(String(resources.get("ro-datastore")!.inputs.create), /ubuntu@203\.0\.113\.50 "\$@"/);
    });

    it("has user data and a readiness script that pass shellcheck", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "st2u-aws-sc-"));
        const ready = readyScript("st2new", "3.9.0", 3600);
        const files = [
            ["user-data.bash", userDataScript("st2new", "3.9.0", "https://stackstorm.com/packages/install.sh").body],
            ["ready.bash", ready.body],
            ["ready.sh", `#!/bin/sh\n${ready.command}\n`],
        ].map(([name, text]) => {
            fs.writeFileSync(path.join(dir, name), text);
            return path.join(dir, name);
        });
        const b = spawnSync("shellcheck", ["-s", "bash", "-f", "gcc", files[0], files[1]], { encoding: "utf8" });
        assert.equal(b.status, 0, `shellcheck:\n${b.stdout}${b.stderr}`);
        const s = spawnSync("shellcheck", ["-s", "sh", "-f", "gcc", files[2]], { encoding: "utf8" });
        assert.equal(s.status, 0, `shellcheck:\n${s.stdout}${s.stderr}`);
        fs.rmSync(dir, { recursive: true });
        assert.equal(BOOTSTRAP_USER, "st2upgrade-bootstrap");
    });
});

describe("fleet discovery by tags", () => {
    const d = parseAwsConfig({ discovery: { tags: { "st2-upgrade:fleet": "prod" } } }).discovery!;

    it("turns running tagged instances into hosts, sorted by instance id", async () => {
        const hosts = await discoverHosts(d);
        assert.deepEqual(hosts, [
            { name: "st2-prod-a", address: "10.0.1.11", port: 22, user: "stackstorm", packageManager: "apt", currentVersion: "2.10.4" },
            { name: "st2-prod-b", address: "10.0.1.12", port: 22, user: "stackstorm", packageManager: "apt", currentVersion: "3.8.1" },
        ]);
        const query = calls.find((c) => c.token === "aws:ec2/getInstances:getInstances")!;
        assert.deepEqual(query.inputs.instanceTags, { "st2-upgrade:fleet": "prod" });
        assert.deepEqual(query.inputs.instanceStateNames, ["running"]);
    });

    it("names every instance that cannot be a host", () => {
        assert.throws(
            () =>
                toHostConfigs(
                    [
                        { id: "i-1", tags: { Name: "a" }, privateIp: "10.0.0.1", publicIp: "" },
                        { id: "i-2", tags: { Name: "b", "st2-upgrade:version": "3.10.0" }, privateIp: "10.0.0.2", publicIp: "" },
                        { id: "i-3", tags: { Name: "c", "st2-upgrade:version": "3.9.0" }, privateIp: "10.0.0.3", publicIp: "" },
                        { id: "i-4", tags: { Name: "c", "st2-upgrade:version": "3.9.0" }, privateIp: "10.0.0.4", publicIp: "" },
                    ],
                    { ...d, addressType: "public" },
                ),
            (e: unknown) => {
                assert.ok(e instanceof ConfigError);
                assert.deepEqual(e.problems, [
                    "st2-upgrade:aws.discovery found instance i-1 without a tag st2-upgrade:version: tag it with the StackStorm release it runs, e.g. 3.8.1",
                    'st2-upgrade:aws.discovery found instance i-1 with no public IP address: set aws.discovery.addressType to "private"?',
                    'st2-upgrade:aws.discovery found instance i-2 with st2-upgrade:version="3.10.0", which is not a StackStorm release the catalog knows',
                    'st2-upgrade:aws.discovery found instance i-2 with no public IP address: set aws.discovery.addressType to "private"?',
                    'st2-upgrade:aws.discovery found instance i-3 with no public IP address: set aws.discovery.addressType to "private"?',
                    'st2-upgrade:aws.discovery found instance i-4 with no public IP address: set aws.discovery.addressType to "private"?',
                    "st2-upgrade:aws.discovery found instance i-4 named c, like instance i-3: give them distinct Name tags",
                ]);
                return true;
            },
        );
        assert.equal(hostName(" --St2 / prod-- ", "i-9"), "St2-prod");
        assert.equal(hostName(undefined, "i-9"), "i-9");
        assert.equal(hostName("x".repeat(80), "i-9").length, 63);
    });
});

describe("rollover and aws sections wired together", () => {
    const rollover = {
        oldHost: { name: "st2-old", address: "10.0.0.11", user: "stackstorm", version: "2.10.4", st2: { username: "admin", password: "0ld-pass" } },
        newHost: { name: "st2-new", user: "ubuntu", version: "3.9.0", st2: { username: "st2admin", password: PASSWORD } },
        packs: [{ name: "alpha", repoUrl: "https://git.example.com/alpha.git" }],
        auditLogs: { destination: "s3" },
    };
    const aws = { instance: { sshCidr: "203.0.113.7/32", sshPublicKey: PUBLIC_KEY }, bucket: {} };

    it("creates the instance, the bucket and a roll-over that waits for the instance and archives to the bucket", async () => {
        const s = rolloverStack({ rollover, aws, defaultKey: KEY, ssh: { dialAttempts: 2, dialTimeoutSeconds: 5, requireHostKey: false } }, "stk", { transformations: [record] });
        await settle(s.report!);
        const report = await valueOf(s.report!);
        assert.deepEqual(report.newHost, { name: "st2-new", address: "203.0.113.50" });
        assert.deepEqual(report.aws, { instanceId: "stk-st2-new-instance-id", bucket: "st2-upgrade-stk-archive" });
        assert.deepEqual(report.steps, ["stk-preflight-old", "stk-preflight-new", "stk-datastore", "stk-packs", "stk-audit-logs", "stk-verify"]);
        assert.equal(report.fromVersion, "2.10.4");
        assert.equal(resources.get("stk-st2-new-instance")!.type, "aws:ec2/instance:Instance");
        assert.deepEqual(resources.get("stk-preflight-old")!.dependsOn, ["stk-st2-new-ready"]);
        assert.match(String(resources.get("stk-audit-logs")!.inputs.create), /dest=s3:\/\/st2-upgrade-stk-archive\/st2-rollover\/st2-old/);
        assert.equal(((resources.get("stk-preflight-old")!.inputs.connection as { value: Record<string, unknown> }).value).dialErrorLimit, 2);
        assert.equal((resources.get("stk-st2-new-ready")!.inputs.stdin as { value: string }).value, `st2admin\n${PASSWORD}\n`);
        for (const [name, r] of resources) {
            if (name.startsWith("stk") && typeof r.inputs.create === "string") assert.doesNotMatch(r.inputs.create, /n3w-St2-pass|0ld-pass|KEYMATERIAL/, name);
        }
    });

    it("creates nothing without the sections, and refuses an instance without a roll-over", () => {
        const before = resources.size;
        assert.deepEqual(rolloverStack({}, "none"), { aws: undefined, bucket: undefined });
        assert.equal(resources.size, before);
        assert.throws(
            () => rolloverStack({ aws }, "orphan"),
            (e: unknown) => e instanceof ConfigError && e.problems[0] === "st2-upgrade:aws.instance creates the new host of a roll-over: set st2-upgrade:rollover too (see docs/rollover.md)",
        );
        assert.throws(() => rolloverStack({ rollover: { ...rollover, newHost: { ...rollover.newHost, address: "10.0.0.21" } }, aws }, "both"), /rollover\.newHost\.address must not be set/);
    });
});
