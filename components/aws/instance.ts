/**
 * St2Instance: a fresh EC2 instance to roll StackStorm content over to. cloud-init installs
 * StackStorm at the target version with StackStorm's installer; a `remote.Command` (`ready`) waits
 * for cloud-init to finish, checks the version and sets the st2 user the roll-over logs in with.
 * The roll-over depends on `ready`, never on the instance alone: a running instance is not yet a
 * StackStorm host.
 */
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { freshInstallUbuntu } from "../catalog/rollover";
import type { SshSettings } from "../config";
import { q, stepScript, type StepScript } from "../scripts/shell";

/** Canonical's AWS account: the owner of the official Ubuntu AMIs. */
export const CANONICAL_OWNER = "099720109477";

/** An st2 user created on the instance; the password is a secret. */
export interface InstanceSt2User {
    username: string;
    password: pulumi.Input<string>;
}

export interface St2InstanceArgs {
    /** The StackStorm release the installer installs. */
    st2Version: string;
    /** The only source allowed to reach port 22. */
    sshCidr: string;
    /** Public half of the key the roll-over connects with. */
    sshPublicKey: string;
    /** Private half, to wait for the instance over SSH; kept secret. */
    privateKey: pulumi.Input<string>;
    /** The AMI's login user ("ubuntu" on Canonical's images). */
    sshUser: string;
    /** The st2 user the roll-over logs in with, created or updated once StackStorm runs. */
    st2User: InstanceSt2User;
    instanceType: string;
    /** Default: Canonical's newest Ubuntu AMI for the target release (see catalog/rollover.ts). */
    ami?: pulumi.Input<string>;
    subnetId?: string;
    /** VPC of the security group; the default VPC when absent. */
    vpcId?: string;
    /** Give the instance a public address and connect to it (else: its private address). */
    publicIp: boolean;
    rootVolumeGb: number;
    installerUrl: string;
    tags?: Record<string, string>;
    ssh?: SshSettings;
    /** How long `ready` waits for cloud-init to install StackStorm. */
    readyTimeoutSeconds: number;
}

/** The user name the installer's own account gets; the roll-over's user is set by `ready`. */
export const BOOTSTRAP_USER = "st2upgrade-bootstrap";

/**
 * cloud-init's user data: runs StackStorm's installer for the target version. The installer insists
 * on an st2 user and password: it gets a random one only root's ~/.st2/config knows, so that no
 * password ever sits in user data (readable from the instance metadata and in Pulumi's state).
 */
export function userDataScript(name: string, st2Version: string, installerUrl: string): StepScript {
    const lines = [
        `export DEBIAN_FRONTEND=noninteractive`,
        `installer=$(mktemp)`,
        `curl -fsSL --retry 5 -o "$installer" ${q(installerUrl)} || die ${q(`cannot download the StackStorm installer from ${installerUrl}`)}`,
        `bootstrap_password=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n')`,
        `log ${q(`installing StackStorm ${st2Version}`)}`,
        `bash "$installer" --version=${q(st2Version)} --user=${BOOTSTRAP_USER} --password="$bootstrap_password" || die ${q(`the StackStorm installer failed for ${st2Version}: see /var/log/cloud-init-output.log`)}`,
        `rm -f "$installer"`,
        `log ${q(`StackStorm ${st2Version} installed`)}`,
    ];
    return stepScript({ host: name, step: "user-data", title: `install StackStorm ${st2Version} on first boot (cloud-init)` }, [], lines, 3600);
}

/**
 * Waits for cloud-init (exit 0, or 2: done with recoverable errors), checks that st2 runs the target
 * version, and sets the roll-over's st2 user from stdin (two lines: user, password) with
 * `htpasswd -i`, which reads the password from stdin: it never appears in a process list.
 */
export function readyScript(name: string, st2Version: string, timeoutSeconds: number): StepScript {
    const lines = [
        `IFS= read -r st2_user || true`,
        `IFS= read -r st2_password || true`,
        `[ -n "$st2_user" ] || die "no st2 user given on stdin"`,
        `if command -v cloud-init >/dev/null; then`,
        `  rc=0`,
        `  cloud-init status --wait >/dev/null || rc=$?`,
        `  [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || die "cloud-init failed (exit $rc): see cloud-init status --long and /var/log/cloud-init-output.log"`,
        `fi`,
        `command -v st2 >/dev/null || die "st2 is not installed: the installer failed? see /var/log/cloud-init-output.log"`,
        `cli=$(st2 --version 2>&1 | head -n 1 || true)`,
        `case "$cli" in ${q(`st2 ${st2Version}`)}|${q(`st2 ${st2Version},`)}*) ;; *) die "st2 --version says '$cli', expected ${st2Version}" ;; esac`,
        `command -v htpasswd >/dev/null || die "htpasswd is missing: the StackStorm installer sets up /etc/st2/htpasswd with it"`,
        `printf '%s\\n' "$st2_password" | htpasswd -i /etc/st2/htpasswd "$st2_user" 2>/dev/null || die "htpasswd could not set the st2 user $st2_user"`,
        `unset st2_password`,
        `log "StackStorm ${st2Version} is ready; st2 user $st2_user set"`,
        `printf 'READY {"st2":"%s"}\\n' ${q(st2Version)}`,
    ];
    return stepScript({ host: name, step: "ready", title: `wait for cloud-init and StackStorm ${st2Version}` }, [], lines, timeoutSeconds, { readsStdin: true });
}

export class St2Instance extends pulumi.ComponentResource {
    readonly instance: aws.ec2.Instance;
    readonly securityGroup: aws.ec2.SecurityGroup;
    readonly keyPair: aws.ec2.KeyPair;
    /** Finishes when StackStorm runs at the target version: what a roll-over depends on. */
    readonly ready: command.remote.Command;
    readonly instanceId: pulumi.Output<string>;
    /** The address the roll-over connects to. */
    readonly address: pulumi.Output<string>;
    readonly publicIp: pulumi.Output<string>;
    readonly privateIp: pulumi.Output<string>;
    readonly amiId: pulumi.Output<string>;

    constructor(name: string, args: St2InstanceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("st2upgrade:aws:St2Instance", name, {}, opts);
        const tags = { ...args.tags, "st2-upgrade:role": "rollover-target", "st2-upgrade:version": args.st2Version };

        this.amiId = pulumi.output(args.ami ?? ubuntuAmi(args.st2Version, this));

        this.keyPair = new aws.ec2.KeyPair(`${name}-key`, { publicKey: args.sshPublicKey, tags }, { parent: this });
        this.securityGroup = new aws.ec2.SecurityGroup(
            `${name}-ssh`,
            {
                description: `st2-upgrade ${name}: SSH from ${args.sshCidr} only`,
                ...(args.vpcId ? { vpcId: args.vpcId } : {}),
                ingress: [
                    {
                        description: "SSH from the machine running Pulumi",
                        protocol: "tcp",
                        fromPort: 22,
                        toPort: 22,
                        ...(args.sshCidr.includes(":") ? { ipv6CidrBlocks: [args.sshCidr] } : { cidrBlocks: [args.sshCidr] }),
                    },
                ],
                // The installer downloads packages; nothing else is opened inbound.
                egress: [{ description: "outbound", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }],
                tags,
            },
            { parent: this },
        );
        this.instance = new aws.ec2.Instance(
            `${name}-instance`,
            {
                ami: this.amiId,
                instanceType: args.instanceType,
                keyName: this.keyPair.keyName,
                vpcSecurityGroupIds: [this.securityGroup.id],
                ...(args.subnetId ? { subnetId: args.subnetId } : {}),
                associatePublicIpAddress: args.publicIp,
                userData: userDataScript(name, args.st2Version, args.installerUrl).body,
                // A new version or installer is a new host: never re-run an installer on a used one.
                userDataReplaceOnChange: true,
                rootBlockDevice: { volumeSize: args.rootVolumeGb, volumeType: "gp3", encrypted: true, deleteOnTermination: true },
                metadataOptions: { httpTokens: "required", httpEndpoint: "enabled" },
                tags: { Name: name, ...tags },
            },
            { parent: this },
        );

        this.instanceId = this.instance.id;
        this.publicIp = this.instance.publicIp;
        this.privateIp = this.instance.privateIp;
        this.address = args.publicIp ? this.instance.publicIp : this.instance.privateIp;
        const ssh = args.ssh ?? { dialAttempts: 60, dialTimeoutSeconds: 10, requireHostKey: false };
        this.ready = new command.remote.Command(
            `${name}-ready`,
            {
                connection: {
                    host: this.address,
                    user: args.sshUser,
                    privateKey: pulumi.secret(args.privateKey),
                    // The instance boots for a while before sshd answers.
                    dialErrorLimit: Math.max(ssh.dialAttempts, 30),
                    perDialTimeout: ssh.dialTimeoutSeconds,
                },
                create: readyScript(name, args.st2Version, args.readyTimeoutSeconds).command,
                stdin: pulumi.secret(pulumi.interpolate`${args.st2User.username}\n${args.st2User.password}\n`),
                triggers: [this.instance.id, args.st2Version, args.st2User.username],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [this.instance], ignoreChanges: ["create", "connection", "stdin"] },
        );

        this.registerOutputs({
            instanceId: this.instanceId,
            address: this.address,
            publicIp: this.publicIp,
            privateIp: this.privateIp,
            amiId: this.amiId,
            securityGroupId: this.securityGroup.id,
        });
    }
}

/** Canonical's newest Ubuntu AMI of the series StackStorm supports for this release. */
export function ubuntuAmi(st2Version: string, parent: pulumi.Resource): pulumi.Output<string> {
    const series = freshInstallUbuntu(st2Version);
    return aws.ec2
        .getAmiOutput(
            {
                owners: [CANONICAL_OWNER],
                mostRecent: true,
                includeDeprecated: true,
                filters: [
                    { name: "name", values: [`ubuntu/images/hvm-ssd*/ubuntu-${series.codename}-${series.version}-amd64-server-*`] },
                    { name: "virtualization-type", values: ["hvm"] },
                    { name: "architecture", values: ["x86_64"] },
                ],
            },
            { parent },
        )
        .apply((ami) => ami.id);
}
