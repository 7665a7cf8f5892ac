/**
 * ArchiveBucket: where a roll-over keeps the old host's audit logs and its datastore backup.
 * Versioned (a second roll-over never loses the first copy), encrypted at rest, no public access,
 * no ACLs, TLS only.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface ArchiveBucketArgs {
    /** Exact bucket name; default: a unique name starting with `st2-upgrade-`. */
    bucketName?: string;
    /** Lets `pulumi destroy` delete the bucket with its archives. */
    forceDestroy: boolean;
    /** SSE-KMS key; default SSE-S3 (AES256). */
    kmsKeyId?: string;
    tags?: Record<string, string>;
}

/** A policy that refuses every request not made over TLS. */
export function tlsOnlyPolicy(bucketArn: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucketArn, `${bucketArn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
        ],
    });
}

export class ArchiveBucket extends pulumi.ComponentResource {
    readonly bucket: aws.s3.Bucket;
    readonly bucketName: pulumi.Output<string>;
    readonly arn: pulumi.Output<string>;

    constructor(name: string, args: ArchiveBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("st2upgrade:aws:ArchiveBucket", name, {}, opts);
        const tags = { ...args.tags, "st2-upgrade:role": "rollover-archive" };
        this.bucket = new aws.s3.Bucket(
            name,
            { ...(args.bucketName ? { bucket: args.bucketName } : { bucketPrefix: "st2-upgrade-" }), forceDestroy: args.forceDestroy, tags },
            { parent: this },
        );
        const bucket = this.bucket.id;
        const child = { parent: this };
        const ownership = new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
        const publicAccess = new aws.s3.BucketPublicAccessBlock(
            `${name}-public-access`,
            { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
            child,
        );
        new aws.s3.BucketVersioning(`${name}-versioning`, { bucket, versioningConfiguration: { status: "Enabled" } }, child);
        new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-encryption`,
            {
                bucket,
                rules: [
                    {
                        applyServerSideEncryptionByDefault: args.kmsKeyId ? { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyId } : { sseAlgorithm: "AES256" },
                        bucketKeyEnabled: args.kmsKeyId !== undefined,
                    },
                ],
            },
            child,
        );
        // After the public access block: S3 refuses policies while it is being set.
        new aws.s3.BucketPolicy(`${name}-tls-only`, { bucket, policy: this.bucket.arn.apply(tlsOnlyPolicy) }, { parent: this, dependsOn: [publicAccess, ownership] });

        this.bucketName = this.bucket.bucket;
        this.arn = this.bucket.arn;
        this.registerOutputs({ bucketName: this.bucketName, arn: this.arn });
    }
}
