/**
 * The `st2-upgrade:aws` section, opt-in: nothing in AWS exists unless this section is set, and each of
 * its parts (`instance`, `bucket`, `discovery`) is opt-in on its own. Validated with zod; errors name
 * the key and give an example, like components/config.ts. `parseAwsConfig` is pure.
 *
 * The AWS account and region are the AWS provider's (`aws:region`, AWS_PROFILE, ...), not ours.
 */
import { z } from "zod";
import { ConfigError, configProblem, nonBlank, packageManagerName, s3BucketName, sectionObject, sshPort, unixUser, validate, wholeNumber } from "../config";

const EXAMPLES: Record<string, string> = {
    aws: `{ instance: { sshCidr: 203.0.113.7/32, sshPublicKey: "ssh-ed25519 AAAA... operator" }, bucket: {} }`,
    "aws.instance.sshCidr": `"203.0.113.7/32" (the address Pulumi runs from)`,
    "aws.instance.sshPublicKey": `"ssh-ed25519 AAAAC3... operator@example.com" (the public half of the new host's SSH key)`,
    "aws.instance.instanceType": `"t3.large" (StackStorm wants 2 vCPUs and 4 GB at least)`,
    "aws.instance.ami": `"ami-0123456789abcdef0" (default: Canonical's newest Ubuntu for the target version)`,
    "aws.instance.subnetId": `"subnet-0123456789abcdef0"`,
    "aws.instance.vpcId": `"vpc-0123456789abcdef0" (the subnet's VPC)`,
    "aws.instance.publicIp": `true`,
    "aws.instance.rootVolumeGb": `40`,
    "aws.instance.installerUrl": `"https://stackstorm.com/packages/install.sh"`,
    "aws.instance.tags": `{ team: automation }`,
    "aws.instance.readyTimeoutSeconds": `3600`,
    "aws.bucket.name": `"acme-st2-archive" (default: a unique name starting with st2-upgrade-)`,
    "aws.bucket.forceDestroy": `false`,
    "aws.bucket.kmsKeyId": `"arn:aws:kms:eu-west-1:111122223333:key/..." (default: SSE-S3, AES256)`,
    "aws.discovery.tags": `{ "st2-upgrade:fleet": production }`,
    "aws.discovery.versionTag": `"st2-upgrade:version" (its value: the release the instance runs, "3.8.1")`,
    "aws.discovery.nameTag": `"Name"`,
    "aws.discovery.user": `"stackstorm" (a user with passwordless sudo)`,
    "aws.discovery.port": `22`,
    "aws.discovery.packageManager": `"apt" or "yum"`,
    "aws.discovery.addressType": `"private" or "public"`,
};

const required = (what: string) => z.string({ error: (iss) => (iss.input === undefined ? "is required" : `must be ${what}`) });
const tags = z.record(z.string().min(1).max(128), z.string().max(256), { error: "must map tag names to values" });

/** IPv4 or IPv6 CIDR. */
function isCidr(value: string): boolean {
    const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(value);
    if (v4) return v4.slice(1, 5).every((o) => Number(o) <= 255) && Number(v4[5]) <= 32;
    const v6 = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(value);
    return v6 !== null && v6[1].includes(":") && Number(v6[2]) <= 128;
}

const instanceSchema = z
    .object({
        /** The only source SSH is allowed from: the machine running Pulumi. */
        sshCidr: required("a CIDR")
            .refine(isCidr, { error: "must be a CIDR such as 203.0.113.7/32" })
            .refine((c) => !/\/0$/.test(c), { error: "must not open SSH to the whole internet: give the address Pulumi runs from, as /32" }),
        sshPublicKey: required("an OpenSSH public key").regex(/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$/, {
            error: "must be an OpenSSH public key line (ssh-ed25519 AAAA... comment)",
        }),
        instanceType: z.string().regex(/^[a-z0-9]+[a-z0-9-]*\.[a-z0-9]+$/, { error: "must be an EC2 instance type" }).default("t3.large"),
        ami: z.string().regex(/^ami-[0-9a-f]{8,17}$/, { error: "must be an AMI id" }).optional(),
        subnetId: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, { error: "must be a subnet id" }).optional(),
        vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, { error: "must be a VPC id" }).optional(),
        /** Give the instance a public address and connect to it (else: its private address). */
        publicIp: z.boolean({ error: "must be true or false" }).default(true),
        rootVolumeGb: wholeNumber(8, 16384).default(40),
        /** StackStorm's installer, run by cloud-init with `--version=<target>`. */
        installerUrl: z.string().regex(/^https:\/\/\S+$/, { error: "must be an https URL" }).default("https://stackstorm.com/packages/install.sh"),
        tags: tags.default({}),
        /** How long the roll-over waits for cloud-init to finish installing StackStorm. */
        readyTimeoutSeconds: wholeNumber(60, 86400).default(3600),
    })
    .strict();

const bucketSchema = z
    .object({
        name: s3BucketName.optional(),
        /** Lets `pulumi destroy` delete a bucket that still holds archives. */
        forceDestroy: z.boolean({ error: "must be true or false" }).default(false),
        /** SSE-KMS with this key; default SSE-S3 (AES256). */
        kmsKeyId: nonBlank("a KMS key id or ARN").optional(),
        tags: tags.default({}),
    })
    .strict();

const discoverySchema = z
    .object({
        /** Instances carrying all these tags are fleet hosts. */
        tags: z
            .record(z.string().min(1), z.string(), { error: (iss) => (iss.input === undefined ? "is required" : "must map tag names to values") })
            .refine((t) => Object.keys(t).length > 0, { error: "must name at least one tag: an empty filter would take every instance of the account" }),
        /** Tag holding the StackStorm release an instance runs. */
        versionTag: nonBlank("a tag name").default("st2-upgrade:version"),
        /** Tag naming the host; its instance id when absent. */
        nameTag: nonBlank("a tag name").default("Name"),
        user: unixUser.default("stackstorm"),
        port: sshPort,
        packageManager: packageManagerName.default("apt"),
        addressType: z.enum(["private", "public"], { error: 'must be "private" or "public"' }).default("private"),
    })
    .strict();

const awsSchema = z
    .object({
        instance: instanceSchema.optional(),
        bucket: bucketSchema.optional(),
        discovery: discoverySchema.optional(),
    })
    .strict();

/** The section's schema: `index.ts` reads the key by it. */
export const AWS_SCHEMA: z.ZodType = awsSchema;

export type AwsConfig = z.infer<typeof awsSchema>;
export type AwsInstanceConfig = z.infer<typeof instanceSchema>;
export type AwsBucketConfig = z.infer<typeof bucketSchema>;
export type AwsDiscoveryConfig = z.infer<typeof discoverySchema>;

/** Validates `st2-upgrade:aws`. Throws ConfigError naming every bad key. */
export function parseAwsConfig(raw: unknown): AwsConfig {
    const config = validate(awsSchema, sectionObject("aws", raw, EXAMPLES), ["aws"], EXAMPLES);
    if (config.instance?.subnetId && !config.instance.vpcId) {
        throw new ConfigError([configProblem(["aws", "instance", "vpcId"], "is required with subnetId (the security group is created in the subnet's VPC)", EXAMPLES)]);
    }
    return config;
}
