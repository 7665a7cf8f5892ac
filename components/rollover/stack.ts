/**
 * From stack configuration to resources: what the program entry calls when `st2-upgrade:rollover`
 * (and, opt-in, `st2-upgrade:aws`) is set. Validates both sections, creates the AWS parts asked for,
 * and the ContentRollover that waits for the new instance to be ready.
 */
import * as pulumi from "@pulumi/pulumi";
import { ArchiveBucket } from "../aws/bucket";
import { parseAwsConfig, type AwsConfig } from "../aws/config";
import { St2Instance } from "../aws/instance";
import { CONFIG_NAMESPACE, ConfigError, type SshSettings } from "../config";
import { pinHostKeys, pinVerdict, type KnownHosts } from "../hostkeys";
import { ContentRollover, type AuditLogDestination, type ContentRolloverArgs, type AuditLogsCopied, type KeysMoved } from "./component";
import { parseRolloverConfig, type RolloverConfig } from "./config";

export interface RolloverStackInput {
    /** Raw value of `st2-upgrade:rollover` (undefined when not set). */
    rollover?: unknown;
    /** Raw value of `st2-upgrade:aws` (undefined when not set). */
    aws?: unknown;
    /** The stack's SSH key (`sshPrivateKey`, or the content of `sshPrivateKeyPath`), for hosts without their own. */
    defaultKey?: pulumi.Input<string>;
    /** The stack's `ssh` settings. */
    ssh?: SshSettings;
    /** `ssh.knownHostsFile`, read: pins the hosts without a `hostKey` of their own, by address. */
    knownHosts?: KnownHosts;
}

/** What `pulumi stack output --json` shows of a roll-over: counts, names and hashes, never a value. */
export interface RolloverReport {
    fromVersion: string;
    toVersion: string;
    oldHost: { name: string; address: string };
    newHost: { name: string; address: string };
    steps: string[];
    keysMoved?: KeysMoved;
    packsInstalled: string[];
    auditLogs?: AuditLogsCopied;
    aws?: { instanceId?: string; bucket?: string };
}

export interface RolloverStack {
    config?: RolloverConfig;
    aws?: AwsConfig;
    rollover?: ContentRollover;
    instance?: St2Instance;
    bucket?: ArchiveBucket;
    /** Undefined when no roll-over is configured. */
    report?: pulumi.Output<RolloverReport>;
}

/**
 * Creates what the `rollover` and `aws` sections ask for; nothing when neither is set. `opts` go to
 * each top-level component (e.g. an AWS provider, or transformations).
 */
export function rolloverStack(input: RolloverStackInput, name = "rollover", opts?: pulumi.ComponentResourceOptions): RolloverStack {
    const aws = input.aws === undefined ? undefined : parseAwsConfig(input.aws);
    if (input.rollover === undefined && aws?.instance) {
        throw new ConfigError([`${CONFIG_NAMESPACE}:aws.instance creates the new host of a roll-over: set ${CONFIG_NAMESPACE}:rollover too (see docs/rollover.md)`]);
    }
    const bucketArgs = aws?.bucket && { bucketName: aws.bucket.name, forceDestroy: aws.bucket.forceDestroy, kmsKeyId: aws.bucket.kmsKeyId, tags: aws.bucket.tags };
    const bucket = bucketArgs ? new ArchiveBucket(`${name}-archive`, bucketArgs, opts) : undefined;
    if (input.rollover === undefined) return { aws, bucket };

    const config = parseRolloverConfig(input.rollover, { hasDefaultKey: input.defaultKey !== undefined, awsInstance: aws?.instance !== undefined, awsBucket: bucket !== undefined });
    const { oldHost, newHost } = config;
    const keyOf = (own: string | undefined) => pulumi.secret((own ?? input.defaultKey)!);
    const newKey = keyOf(newHost.sshPrivateKey);
    const st2 = { username: newHost.st2.username, password: pulumi.secret(newHost.st2.password) };
    // Host keys: the pipes carry decrypted datastore values, so an unpinned end is said out loud.
    const pins = pinHostKeys(
        [
            { name: oldHost.name, address: oldHost.address, port: oldHost.port, hostKey: oldHost.hostKey, key: "rollover.oldHost" },
            { name: newHost.name, address: newHost.address, port: newHost.port, hostKey: newHost.hostKey, key: "rollover.newHost" },
        ],
        input.knownHosts,
    );
    const verdict = pinVerdict(pins, input.ssh?.requireHostKey ?? false);
    if (verdict.errors.length) throw new ConfigError(verdict.errors);
    if (verdict.warning) pulumi.log.warn(verdict.warning);
    const hostKeyOf = (name: string) => {
        const pinned = pins.pinned.get(name);
        return pinned ? { hostKey: pinned.text } : {};
    };

    const instanceArgs = aws?.instance && {
        st2Version: newHost.version,
        sshCidr: aws.instance.sshCidr,
        sshPublicKey: aws.instance.sshPublicKey,
        privateKey: newKey,
        sshUser: newHost.user,
        st2User: st2,
        instanceType: aws.instance.instanceType,
        ami: aws.instance.ami,
        subnetId: aws.instance.subnetId,
        vpcId: aws.instance.vpcId,
        publicIp: aws.instance.publicIp,
        rootVolumeGb: aws.instance.rootVolumeGb,
        installerUrl: aws.instance.installerUrl,
        tags: aws.instance.tags,
        readyTimeoutSeconds: aws.instance.readyTimeoutSeconds,
    };
    const instance = instanceArgs ? new St2Instance(`${name}-${newHost.name}`, instanceArgs, opts) : undefined;

    const auditLogs: AuditLogDestination =
        config.auditLogs.destination === "local"
            ? { kind: "local", dir: config.auditLogs.dir }
            : { kind: "s3", bucket: config.auditLogs.bucket ?? bucket!.bucketName, prefix: config.auditLogs.prefix };
    const newAddress = instance ? instance.address : pulumi.output(newHost.address!);
    const rolloverArgs: ContentRolloverArgs = {
        oldHost: {
            name: oldHost.name,
            address: oldHost.address,
            port: oldHost.port,
            user: oldHost.user,
            privateKey: keyOf(oldHost.sshPrivateKey),
            ...hostKeyOf(oldHost.name),
            version: oldHost.version,
            ...(oldHost.st2 ? { st2: { username: oldHost.st2.username, password: pulumi.secret(oldHost.st2.password) } } : {}),
        },
        newHost: { name: newHost.name, address: newAddress, port: newHost.port, user: newHost.user, privateKey: newKey, ...hostKeyOf(newHost.name), version: newHost.version, st2 },
        packs: config.packs,
        auditLogs,
        ssh: input.ssh,
        timeouts: config.timeouts,
        ...(instance ? { startAfter: [instance.ready] } : {}),
    };
    const rollover = new ContentRollover(name, rolloverArgs, opts);

    const report = pulumi
        .all([newAddress, rollover.steps, rollover.keysMoved, rollover.packsInstalled, rollover.auditLogs, instance?.instanceId, bucket?.bucketName])
        .apply(([address, steps, keysMoved, packsInstalled, copied, instanceId, bucketName]): RolloverReport => ({
            fromVersion: oldHost.version,
            toVersion: newHost.version,
            oldHost: { name: oldHost.name, address: oldHost.address },
            newHost: { name: newHost.name, address },
            steps,
            ...(keysMoved ? { keysMoved } : {}),
            packsInstalled,
            ...(copied ? { auditLogs: copied } : {}),
            ...(instanceId || bucketName ? { aws: { ...(instanceId ? { instanceId } : {}), ...(bucketName ? { bucket: bucketName } : {}) } } : {}),
        }));
    return { config, aws, rollover, instance, bucket, report };
}
