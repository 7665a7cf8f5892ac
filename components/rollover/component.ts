/**
 * ContentRollover: StackStorm's "Content Roll-Over" (install the new version on a fresh instance,
 * move packs and datastore, keep the old audit logs) as a chain of commands:
 *
 *   preflight-old -> preflight-new -> datastore -> packs -> audit-logs -> verify
 *
 * Host steps are `remote.Command`s; the steps that move data between the hosts are `local.Command`s
 * on the machine running Pulumi, which pipe one host's output into the other over ssh, so that keys
 * and logs never pass through Pulumi: state and logs only see counts and hashes. The component only
 * wires Pulumi; the scripts come from `host-scripts.ts` and `local-scripts.ts`.
 */
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { checkConversion } from "./datastore";
import type { SshSettings } from "../config";
import { packsScript, preflightScript, type ScriptHost } from "./host-scripts";
import { archivePipeScript, datastorePipeScript, verifyScript, type AuditDestination, type CopiedFile, type Converter, type PipeContext, type SshEndpoint } from "./local-scripts";
import type { Pack } from "./packs";

/** st2 CLI credentials; the password is a secret. */
export interface St2Credentials {
    username: string;
    password: pulumi.Input<string>;
}

/** One end of the roll-over. */
export interface RolloverHost {
    /** Names messages and the audit-log folder (letters, digits, dashes). */
    name: string;
    address: pulumi.Input<string>;
    port: number;
    /** SSH user with passwordless sudo. */
    user: string;
    /** SSH private key; kept secret in state. */
    privateKey: pulumi.Input<string>;
    /** The host's pinned public key (`ssh-ed25519 AAAA...`): steps and pipes refuse another; undefined: unchecked. */
    hostKey?: string;
    /** The StackStorm release the host runs. */
    version: string;
    /** Credentials for root's st2 CLI; without them root's ~/.st2/config must log in. */
    st2?: St2Credentials;
}

export type AuditLogDestination = { kind: "local"; dir: string } | { kind: "s3"; bucket: pulumi.Input<string>; prefix: string };

export interface ContentRolloverArgs {
    oldHost: RolloverHost;
    /** The fresh instance; `st2 key load` needs its st2 credentials (a fresh install has no root CLI config). */
    newHost: RolloverHost & { st2: St2Credentials };
    /** Packs to install on the new host from git. */
    packs?: readonly Pack[];
    /** Where the old host's audit logs go (with a datastore backup whose secrets stay encrypted). */
    auditLogs: AuditLogDestination;
    ssh?: SshSettings;
    timeouts?: { step: number; datastore: number; packs: number };
    /** Resources the first step waits for, e.g. the command that waits for a new instance to be ready. */
    startAfter?: pulumi.Input<pulumi.Input<pulumi.Resource>[]>;
    /** How to run convert-cli on this machine; by default node on the compiled or TypeScript file beside this one. */
    converter?: Converter;
}

/** Counts of the keys found on the new host, as verification compared them. */
export interface KeysMoved {
    total: number;
    byScope: Record<string, number>;
    secrets: number;
    /** Keys of the old host found on the new one with the same flags and value. */
    matched: number;
    /** Keys only the new host has. */
    extra: number;
}

export interface AuditLogsCopied {
    destination: string;
    files: CopiedFile[];
}

/** The command that runs convert-cli beside this file, relative to the working directory when inside it. */
export function defaultConverter(): string[] {
    const ext = path.extname(__filename);
    const cli = path.join(__dirname, `convert-cli${ext}`);
    const relative = path.relative(process.cwd(), cli);
    const shown = relative.startsWith("..") || path.isAbsolute(relative) ? cli : relative;
    return ext === ".ts" ? ["node", "--require", "ts-node/register/transpile-only", shown] : ["node", shown];
}

const DEFAULT_SSH: SshSettings = { dialAttempts: 3, dialTimeoutSeconds: 15, requireHostKey: false };
const DEFAULT_TIMEOUTS = { step: 600, datastore: 1800, packs: 1800 };

export class ContentRollover extends pulumi.ComponentResource {
    /** The commands, in execution order. */
    readonly commands: (command.remote.Command | command.local.Command)[];
    /** The last command: verification. */
    readonly verified: command.local.Command;
    /** Step names, in order. */
    readonly steps: pulumi.Output<string[]>;
    readonly fromVersion: pulumi.Output<string>;
    readonly toVersion: pulumi.Output<string>;
    /** Keys on the new host after verification, per scope. */
    readonly keysMoved: pulumi.Output<KeysMoved | undefined>;
    readonly packsInstalled: pulumi.Output<string[]>;
    readonly auditLogs: pulumi.Output<AuditLogsCopied | undefined>;

    constructor(name: string, args: ContentRolloverArgs, opts?: pulumi.ComponentResourceOptions) {
        super("st2upgrade:rollover:ContentRollover", name, {}, opts);
        const { oldHost, newHost } = args;
        // A conversion that cannot work fails here, at preview, with the reason.
        checkConversion(oldHost.version, newHost.version);
        const packs = args.packs ?? [];
        const ssh = args.ssh ?? DEFAULT_SSH;
        const timeouts = args.timeouts ?? DEFAULT_TIMEOUTS;
        const converter = args.converter ?? defaultConverter();
        const oldScript: ScriptHost = { name: oldHost.name, version: oldHost.version, configKey: "rollover.oldHost" };
        const newScript: ScriptHost = { name: newHost.name, version: newHost.version, configKey: "rollover.newHost" };

        // Keyed on what the roll-over is, never on script text: a second `up` runs nothing.
        const identity = [oldHost.name, oldHost.address, oldHost.version, newHost.name, newHost.address, newHost.version];
        const destination = args.auditLogs.kind === "local" ? pulumi.output(`local:${args.auditLogs.dir}`) : pulumi.interpolate`s3://${args.auditLogs.bucket}/${args.auditLogs.prefix}`;
        const packKey = packs.map((p) => `${p.name}=${p.repoUrl}`).join(" ");

        this.commands = [];
        const names: string[] = [];
        const chain = (): pulumi.Input<pulumi.Input<pulumi.Resource>[]> => {
            const previous = this.commands[this.commands.length - 1];
            return previous ? [previous] : args.startAfter ?? [];
        };
        const remote = (key: string, host: RolloverHost, create: string, triggers: pulumi.Input<unknown>[]) => {
            const cmd = new command.remote.Command(
                `${name}-${key}`,
                {
                    connection: connectionOf(host, ssh),
                    create,
                    // Two lines for the script's st2_login: user and password (empty: root's own CLI config).
                    stdin: pulumi.secret(credentialLines(host.st2)),
                    triggers: [...identity, key, ...triggers],
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: chain(), ignoreChanges: ["create", "connection", "stdin"] },
            );
            this.commands.push(cmd);
            names.push(`${name}-${key}`);
            return cmd;
        };
        const local = (key: string, create: pulumi.Input<string>, triggers: pulumi.Input<unknown>[], secretOutput: boolean) => {
            const cmd = new command.local.Command(
                `${name}-${key}`,
                {
                    create,
                    interpreter: ["/bin/bash", "-c"],
                    environment: pulumi.secret(environmentOf(oldHost, newHost)),
                    triggers: [...identity, key, ...triggers],
                    addPreviousOutputInEnv: false,
                },
                {
                    parent: this,
                    dependsOn: chain(),
                    ignoreChanges: ["create", "environment", "interpreter"],
                    ...(secretOutput ? { additionalSecretOutputs: ["stdout", "stderr"] } : {}),
                },
            );
            this.commands.push(cmd);
            names.push(`${name}-${key}`);
            return cmd;
        };

        remote("preflight-old", oldHost, preflightScript(oldScript, { role: "old", needsGit: false, timeoutSeconds: timeouts.step }).command, []);
        remote("preflight-new", newHost, preflightScript(newScript, { role: "new", needsGit: packs.length > 0, timeoutSeconds: timeouts.step }).command, []);

        const pipe = pulumi.all([oldHost.address, newHost.address]).apply(([oldAddress, newAddress]): PipeContext => ({
            oldHost: oldScript,
            newHost: newScript,
            old: endpoint("OLD", oldHost, oldAddress),
            fresh: endpoint("NEW", newHost, newAddress),
            ssh,
            converter,
            timeoutSeconds: timeouts.datastore,
        }));
        // The only step whose pipe carries decrypted values: its outputs are secret as well, although
        // the scripts print nothing but counts.
        local("datastore", pipe.apply(datastorePipeScript), [], true);

        const packsStep = packs.length ? remote("packs", newHost, packsScript(newScript, packs, timeouts.packs).command, [packKey]) : undefined;

        const dest: pulumi.Output<AuditDestination> =
            args.auditLogs.kind === "local"
                ? pulumi.output({ kind: "local" as const, dir: args.auditLogs.dir })
                : pulumi.output(args.auditLogs.bucket).apply((bucket) => ({ kind: "s3" as const, bucket, prefix: (args.auditLogs as { prefix: string }).prefix }));
        const archive = local(
            "audit-logs",
            pulumi.all([pipe, dest]).apply(([p, d]) => archivePipeScript({ oldHost: oldScript, old: p.old, ssh, destination: d, timeoutSeconds: timeouts.step })),
            [destination],
            false,
        );
        // Names and hashes only (see below why unsecret): the verify script stays readable in preview.
        const copied = pulumi.unsecret(archive.stdout.apply(parseCopied));

        this.verified = local(
            "verify",
            pulumi.all([pipe, dest, copied]).apply(([p, d, c]) => verifyScript({ ...p, timeoutSeconds: timeouts.step, packs, destination: d, copied: c?.files })),
            [packKey, destination],
            false,
        );

        this.steps = pulumi.output(names);
        this.fromVersion = pulumi.output(oldHost.version);
        this.toVersion = pulumi.output(newHost.version);
        // The command provider may mark every output of a command with a secret input as secret. These
        // lines hold counts, pack names and hashes by construction (the scripts print nothing else), so
        // they are made readable for `pulumi stack output --json`.
        this.keysMoved = pulumi.unsecret(this.verified.stdout.apply(parseKeysMoved));
        this.packsInstalled = pulumi.unsecret(packsStep ? packsStep.stdout.apply((s) => parseMarkedList(s, "PACKS_INSTALLED")) : pulumi.output([]));
        this.auditLogs = copied;
        this.registerOutputs({
            steps: this.steps,
            fromVersion: this.fromVersion,
            toVersion: this.toVersion,
            keysMoved: this.keysMoved,
            packsInstalled: this.packsInstalled,
            auditLogs: this.auditLogs,
        });
    }
}

function connectionOf(host: RolloverHost, ssh: SshSettings): command.types.input.remote.ConnectionArgs {
    return {
        host: host.address,
        port: host.port,
        user: host.user,
        privateKey: pulumi.secret(host.privateKey),
        dialErrorLimit: ssh.dialAttempts,
        perDialTimeout: ssh.dialTimeoutSeconds,
        ...(host.hostKey ? { hostKey: host.hostKey } : {}),
    };
}

/** What a host script's st2_login reads on stdin. */
function credentialLines(st2: St2Credentials | undefined): pulumi.Output<string> {
    return st2 ? pulumi.interpolate`${st2.username}\n${st2.password}\n` : pulumi.output("\n\n");
}

function endpoint(prefix: "OLD" | "NEW", host: RolloverHost, address: string): SshEndpoint {
    return {
        address,
        port: host.port,
        user: host.user,
        ...(host.hostKey ? { hostKey: host.hostKey } : {}),
        keyVar: `ST2U_${prefix}_SSH_KEY`,
        st2UserVar: `ST2U_${prefix}_ST2_USER`,
        st2PasswordVar: `ST2U_${prefix}_ST2_PASSWORD`,
    };
}

/** The secrets the local scripts read from their environment, never from their text. */
function environmentOf(oldHost: RolloverHost, newHost: RolloverHost): pulumi.Output<Record<string, string>> {
    return pulumi
        .all([oldHost.privateKey, newHost.privateKey, oldHost.st2?.password ?? "", newHost.st2?.password ?? ""])
        .apply(([oldKey, newKey, oldPassword, newPassword]): Record<string, string> => ({
            ST2U_OLD_SSH_KEY: oldKey,
            ST2U_NEW_SSH_KEY: newKey,
            ST2U_OLD_ST2_USER: oldHost.st2?.username ?? "",
            ST2U_OLD_ST2_PASSWORD: oldPassword,
            ST2U_NEW_ST2_USER: newHost.st2?.username ?? "",
            ST2U_NEW_ST2_PASSWORD: newPassword,
        }));
}

/** `AUDIT_LOG <sha256> <bytes> <name>` lines and `AUDIT_DESTINATION <where>` -> what was copied. */
export function parseCopied(stdout: string): AuditLogsCopied | undefined {
    const lines = stdout.split("\n");
    const destination = lines.find((l) => l.startsWith("AUDIT_DESTINATION "))?.slice("AUDIT_DESTINATION ".length);
    if (destination === undefined) return undefined;
    const files = lines
        .map((l) => /^AUDIT_LOG ([0-9a-f]{64}) (\d+) (.+)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ name: m[3], sha256: m[1], bytes: Number(m[2]) }));
    return { destination, files };
}

/** `DATASTORE {...}` -> the counts. */
export function parseKeysMoved(stdout: string): KeysMoved | undefined {
    const line = stdout.split("\n").find((l) => l.startsWith("DATASTORE "));
    return line ? (JSON.parse(line.slice("DATASTORE ".length)) as KeysMoved) : undefined;
}

/** `MARKER ["a","b"]` -> the list. */
export function parseMarkedList(stdout: string, marker: string): string[] {
    const line = stdout.split("\n").find((l) => l.startsWith(`${marker} `));
    return line ? (JSON.parse(line.slice(marker.length + 1)) as string[]) : [];
}
