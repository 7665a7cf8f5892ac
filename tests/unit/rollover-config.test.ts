/** The `rollover` and `aws` sections of the stack config: defaults and exact errors (key + example). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAwsConfig } from "../../components/aws/config";
import { rejectsConfig } from "../support/config";
import { parseRolloverConfig, type RolloverContext } from "../../components/rollover/config";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const oldHost = { name: "st2-old", address: "10.0.0.11", user: "stackstorm", version: "2.0.1" };
const newHost = { name: "st2-new", address: "10.0.0.21", user: "stackstorm", version: "3.9.0", st2: { username: "st2admin", password: "p4ss" } };
const ctx: RolloverContext = { hasDefaultKey: true, awsInstance: false, awsBucket: false };

const rejects = rejectsConfig;

describe("rollover config", () => {
    it("fills every default of a minimal section", () => {
        assert.deepEqual(parseRolloverConfig({ oldHost, newHost }, ctx), {
            oldHost: { ...oldHost, port: 22 },
            newHost: { ...newHost, port: 22 },
            packs: [],
            auditLogs: { destination: "local", dir: "st2-audit-logs", prefix: "st2-rollover" },
            timeouts: { step: 600, datastore: 1800, packs: 1800 },
        });
    });

    it("requires both hosts", () => {
        rejects(() => parseRolloverConfig({}, ctx), [
            'st2-upgrade:rollover.oldHost is required. Example: { name: st2-old, address: 10.0.0.11, user: stackstorm, version: "2.10.4" }',
            'st2-upgrade:rollover.newHost is required. Example: { name: st2-new, address: 10.0.0.21, user: stackstorm, version: "3.9.0", st2: { username: st2admin } }',
        ]);
        rejects(() => parseRolloverConfig([], ctx), [
            'st2-upgrade:rollover must be an object. Example: { oldHost: { name: st2-old, address: 10.0.0.11, user: stackstorm, version: "2.10.4" }, newHost: { name: st2-new, address: 10.0.0.21, user: stackstorm, version: "3.9.0", st2: { username: st2admin } } }',
        ]);
    });

    it("requires st2 credentials for the new host (st2 key load needs an auth token)", () => {
        rejects(() => parseRolloverConfig({ oldHost, newHost: { ...newHost, st2: undefined } }, ctx), [
            "st2-upgrade:rollover.newHost.st2 is required. Example: { username: st2admin } and pulumi config set --secret --path 'rollover.newHost.st2.password' 'p4ss'",
        ]);
    });

    it("rejects bad types, typos, passwords st2's CLI config cannot carry, and credentials in git URLs, never echoing a secret", () => {
        rejects(
            () =>
                parseRolloverConfig(
                    {
                        oldHost: { ...oldHost, port: "22", typo: 1 },
                        newHost: { ...newHost, st2: { username: "st2admin", password: "50%off" } },
                        packs: [{ name: "my-pack", repoUrl: "https://u:hunter2@git.example.com/x.git" }],
                    },
                    ctx,
                ),
            [
                "st2-upgrade:rollover.oldHost.port must be a whole number from 1 to 65535. Example: 22",
                "st2-upgrade:rollover.oldHost.typo is not a known setting (a typo?). Known settings here: name, port, user, sshPrivateKey, hostKey, address, version, st2",
                "st2-upgrade:rollover.newHost.st2.password must not contain % (st2's CLI config file would read it as an interpolation). Example: pulumi config set --secret --path 'rollover.newHost.st2.password' 'p4ss'",
                `st2-upgrade:rollover.packs[0].name must be a pack ref: letters, digits and underscores. Example: "my_pack" (the pack's ref: letters, digits and underscores)`,
                'st2-upgrade:rollover.packs[0].repoUrl must not contain a password: give the new host an SSH deploy key or a credential helper instead. Example: "https://git.example.com/st2/my_pack.git" or "git@git.example.com:st2/my_pack.git"',
            ],
        );
        rejects(() => parseRolloverConfig({ oldHost, newHost: { ...newHost, st2: { username: "st2admin", password: " padded" } } }, ctx), [
            "st2-upgrade:rollover.newHost.st2.password must not start or end with spaces (st2's CLI config file strips them). Example: pulumi config set --secret --path 'rollover.newHost.st2.password' 'p4ss'",
        ]);
    });

    it("refuses a downgrade and a target whose st2 key load drops scope and secret, with the reason", () => {
        rejects(() => parseRolloverConfig({ oldHost: { ...oldHost, version: "3.9.0" }, newHost: { ...newHost, version: "3.8.1" } }, ctx), [
            'st2-upgrade:rollover.newHost.version cannot receive a roll-over from 3.9.0: refusing to convert a 3.9.0 datastore for 3.8.1: a roll-over goes to the same or a newer release, never back (scope names would have to be mapped back and secrets could not be kept). Example: "3.9.0" (what `st2 --version` prints on the new host)',
        ]);
        rejects(() => parseRolloverConfig({ oldHost, newHost: { ...newHost, version: "2.5.1" } }, ctx), [
            "st2-upgrade:rollover.newHost.version cannot receive a roll-over from 2.0.1: StackStorm 2.5.1 cannot receive the datastore: its st2 key load reads only name and value, so scope, user and secret would be silently dropped (secrets stored as plain text, users' keys turned into system keys). Roll over to 2.6.0 or later, then upgrade in place. Example: \"3.9.0\" (what `st2 --version` prints on the new host)",
        ]);
        rejects(() => parseRolloverConfig({ oldHost: { ...oldHost, version: "2.0" }, newHost }, ctx), [
            'st2-upgrade:rollover.oldHost.version "2.0" is not a StackStorm release the catalog knows (the old host\'s). Example: "2.10.4" (what `st2 --version` prints on the old host)',
        ]);
    });

    it("takes the new host's address from AWS when aws.instance creates it, and only then", () => {
        const { address: _, ...noAddress } = newHost;
        assert.equal(parseRolloverConfig({ oldHost, newHost: noAddress }, { ...ctx, awsInstance: true }).newHost.address, undefined);
        rejects(() => parseRolloverConfig({ oldHost, newHost: noAddress }, ctx), [
            'st2-upgrade:rollover.newHost.address is required (or let st2-upgrade:aws.instance create the new host). Example: "10.0.0.21" or "st2-new.example.com"',
        ]);
        rejects(() => parseRolloverConfig({ oldHost, newHost }, { ...ctx, awsInstance: true }), [
            'st2-upgrade:rollover.newHost.address must not be set: st2-upgrade:aws.instance creates the new host and gives its address. Example: "10.0.0.21" or "st2-new.example.com"',
        ]);
    });

    it("needs an SSH key per host or the stack's, and a bucket for destination s3", () => {
        rejects(() => parseRolloverConfig({ oldHost, newHost: { ...newHost, sshPrivateKey: "not a key" }, auditLogs: { destination: "s3" } }, { ...ctx, hasDefaultKey: false }), [
            "st2-upgrade:rollover.oldHost.sshPrivateKey (or st2-upgrade:sshPrivateKey / sshPrivateKeyPath) is required. Example: pulumi config set --secret --path 'rollover.oldHost.sshPrivateKey' < key",
            'st2-upgrade:rollover.newHost.sshPrivateKey is not a PEM or OpenSSH private key (no "-----BEGIN ... PRIVATE KEY-----" line)',
            'st2-upgrade:rollover.auditLogs.bucket is required for destination "s3" (or let st2-upgrade:aws.bucket create one). Example: "my-st2-archive" (or let st2-upgrade:aws.bucket create one)',
        ]);
        const c = parseRolloverConfig({ oldHost: { ...oldHost, sshPrivateKey: KEY }, newHost: { ...newHost, sshPrivateKey: KEY }, auditLogs: { destination: "s3" } }, { ...ctx, hasDefaultKey: false, awsBucket: true });
        assert.deepEqual(c.auditLogs, { destination: "s3", dir: "st2-audit-logs", prefix: "st2-rollover" });
    });

    it("refuses two packs of one repository on 3.x (st2 pack install takes one pack per repository), duplicates and one name for both hosts", () => {
        const packs = [
            { name: "a", repoUrl: "https://git.example.com/mono.git" },
            { name: "b", repoUrl: "https://git.example.com/mono.git" },
            { name: "a", repoUrl: "git@git.example.com:st2/a.git" },
        ];
        rejects(() => parseRolloverConfig({ oldHost, newHost: { ...newHost, name: "st2-old" }, packs }, ctx), [
            'st2-upgrade:rollover.newHost.name "st2-old" also names the old host: names must differ. Example: "st2-new" (letters, digits and dashes: it names Pulumi resources)',
            `st2-upgrade:rollover.packs[2].name "a" is listed twice. Example: "my_pack" (the pack's ref: letters, digits and underscores)`,
            'st2-upgrade:rollover.packs[1].repoUrl is also the repository of a: StackStorm 3.9.0 installs one pack per repository (st2 pack install <url>). Example: "https://git.example.com/st2/my_pack.git" or "git@git.example.com:st2/my_pack.git"',
        ]);
        assert.equal(parseRolloverConfig({ oldHost, newHost: { ...newHost, version: "2.10.4" }, packs: packs.slice(0, 2) }, ctx).packs.length, 2);
    });
});

describe("aws config", () => {
    const instance = { sshCidr: "203.0.113.7/32", sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA operator@example.com" };

    it("fills the defaults of each part", () => {
        assert.deepEqual(parseAwsConfig({ instance, bucket: {}, discovery: { tags: { "st2-upgrade:fleet": "prod" } } }), {
            instance: { ...instance, instanceType: "t3.large", publicIp: true, rootVolumeGb: 40, installerUrl: "https://stackstorm.com/packages/install.sh", tags: {}, readyTimeoutSeconds: 3600 },
            bucket: { forceDestroy: false, tags: {} },
            discovery: { tags: { "st2-upgrade:fleet": "prod" }, versionTag: "st2-upgrade:version", nameTag: "Name", user: "stackstorm", port: 22, packageManager: "apt", addressType: "private" },
        });
        assert.deepEqual(parseAwsConfig({}), {});
    });

    it("never opens SSH to the world, and names every bad key", () => {
        rejects(() => parseAwsConfig({ instance: { sshCidr: "0.0.0.0/0", sshPublicKey: "ssh-rsa" }, discovery: { tags: {} }, bucket: { name: "A" } }), [
            'st2-upgrade:aws.instance.sshCidr must not open SSH to the whole internet: give the address Pulumi runs from, as /32. Example: "203.0.113.7/32" (the address Pulumi runs from)',
            `st2-upgrade:aws.instance.sshPublicKey must be an OpenSSH public key line (ssh-ed25519 AAAA... comment). Example: "ssh-ed25519 AAAAC3... operator@example.com" (the public half of the new host's SSH key)`,
            'st2-upgrade:aws.bucket.name must be an S3 bucket name. Example: "acme-st2-archive" (default: a unique name starting with st2-upgrade-)',
            'st2-upgrade:aws.discovery.tags must name at least one tag: an empty filter would take every instance of the account. Example: { "st2-upgrade:fleet": production }',
        ]);
        rejects(() => parseAwsConfig({ instance: { ...instance, sshCidr: "10.0.0.300/32" } }), [
            'st2-upgrade:aws.instance.sshCidr must be a CIDR such as 203.0.113.7/32. Example: "203.0.113.7/32" (the address Pulumi runs from)',
        ]);
        rejects(() => parseAwsConfig({ instance: {} }), [
            'st2-upgrade:aws.instance.sshCidr is required. Example: "203.0.113.7/32" (the address Pulumi runs from)',
            `st2-upgrade:aws.instance.sshPublicKey is required. Example: "ssh-ed25519 AAAAC3... operator@example.com" (the public half of the new host's SSH key)`,
        ]);
        rejects(() => parseAwsConfig({ instance: { ...instance, subnetId: "subnet-0123456789abcdef0" } }), [
            `st2-upgrade:aws.instance.vpcId is required with subnetId (the security group is created in the subnet's VPC). Example: "vpc-0123456789abcdef0" (the subnet's VPC)`,
        ]);
        rejects(() => parseAwsConfig({ instanse: {} }), ["st2-upgrade:aws.instanse is not a known setting: did you mean st2-upgrade:aws.instance?"]);
    });
});
