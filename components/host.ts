/**
 * StackStormHost: one host's upgrade as a chain of `remote.Command`s. The component only wires
 * Pulumi; what runs comes from `plan` and `scripts`.
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "./config";
import { reportedFacts, type HostFacts, type ReportedFacts, type ResolvedHost } from "./facts";
import { plannedMigrationIds, type UpgradePlan } from "./plan";
import { upgradeSteps, type Step } from "./scripts";

export interface StackStormHostArgs {
    /**
     * The host as validated by `parseConfig` and completed from its facts (`resolveHosts`):
     * `currentVersion` is where the plan starts (see `planFrom` in facts.ts for why that is not
     * always what the host runs now).
     */
    host: ResolvedHost;
    /** What this run read on the host (outputs only: the plan already comes from them through `host`). */
    facts?: HostFacts;
    /** Position of the host in the `hosts` config, so messages name the key to fix. */
    hostIndex?: number;
    /** The host's plan, made once by the fleet (which also gates batches on it). */
    plan: UpgradePlan;
    /** SSH private key; kept secret in state. */
    privateKey: pulumi.Input<string>;
    settings: Settings;
    /** Resources that must finish before this host's first step (the previous batch). */
    startAfter?: pulumi.Input<pulumi.Input<pulumi.Resource>[]>;
    /** Resources that must finish before this host's services stop (its batch's preparation). */
    outageAfter?: readonly Promise<pulumi.Resource>[];
}

/** What one step records in the outputs. */
export interface StepSummary {
    name: string;
    title: string;
    phase: Step["phase"];
}

export class StackStormHost extends pulumi.ComponentResource {
    /** The plan this host's steps carry out (plain data, known at preview). */
    readonly plan: UpgradePlan;
    /** The commands, in execution order. */
    readonly commands: command.remote.Command[];
    /** Last command of the preparation (backup); undefined when there is nothing to do. */
    readonly prepared?: command.remote.Command;
    /** The verification command; undefined when there is nothing to do. */
    readonly verified?: command.remote.Command;
    readonly fromVersion: pulumi.Output<string>;
    readonly targetVersion: pulumi.Output<string>;
    readonly steps: pulumi.Output<StepSummary[]>;
    readonly migrations: pulumi.Output<string[]>;
    readonly notices: pulumi.Output<string[]>;
    /** Version `verify` found on the host after the upgrade. */
    readonly verifiedVersion: pulumi.Output<string | undefined>;
    /** Backup folder on the host. */
    readonly backupPath: pulumi.Output<string | undefined>;
    /** What preflight found on the host before changing anything. */
    readonly detected: pulumi.Output<Detected | undefined>;
    /** What this run's read-only fact read found on the host. */
    readonly facts: pulumi.Output<ReportedFacts | undefined>;
    /** For a restore: the backup folder it goes back to (known at preview). */
    readonly restoredFrom: pulumi.Output<string | undefined>;
    /** For a restore: what its preflight counted as work done since the backup (lost by the restore). */
    readonly restoreLoss: pulumi.Output<RestoreLoss | undefined>;

    constructor(name: string, args: StackStormHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("st2upgrade:host:StackStormHost", name, {}, opts);
        const { host, settings } = args;
        this.plan = args.plan;
        const steps = upgradeSteps({ host, hostIndex: args.hostIndex ?? 0, plan: this.plan, settings });

        const connection: command.types.input.remote.ConnectionArgs = {
            host: host.address,
            port: host.port,
            user: host.user,
            privateKey: pulumi.secret(args.privateKey),
            dialErrorLimit: settings.ssh.dialAttempts,
            perDialTimeout: settings.ssh.dialTimeoutSeconds,
            // The pinned key (components/hostkeys.ts): the provider refuses a host presenting another.
            ...(host.hostKey ? { hostKey: host.hostKey } : {}),
        };

        // Both chains (scripts/index.ts: the upgrade's and the restore's) are their preparation, then
        // the outage, which ends with the verification.
        const firstOutage = steps.findIndex((s) => s.phase === "outage");
        this.commands = [];
        const byKey = new Map<string, command.remote.Command>();
        for (const [i, step] of steps.entries()) {
            const previous = this.commands[this.commands.length - 1];
            const cmd = new command.remote.Command(
                `${name}-${step.key}`,
                {
                    connection,
                    create: step.script.command,
                    stdin: step.script.stdin,
                    // Keyed on the upgrade, not on the script text: a new target re-runs the chain, while a
                    // newer st2-upgrade or a new SSH key never re-runs a step that already succeeded.
                    // `from` is where the upgrade started, not what the host runs now: after the upgrade
                    // the host runs `to`, and the facts would otherwise plan nothing and delete every
                    // step. facts.ts `planFrom` keeps the start this stack recorded (these very
                    // triggers, read back from the last checkpoint) while the host is on that path.
                    triggers: [this.plan.from, this.plan.to, step.key],
                    addPreviousOutputInEnv: false,
                },
                {
                    parent: this,
                    dependsOn: dependencies(previous, i === firstOutage && firstOutage > 0, args),
                    ignoreChanges: ["create", "stdin", "connection"],
                },
            );
            byKey.set(step.key, cmd);
            this.commands.push(cmd);
        }
        this.prepared = firstOutage > 0 ? this.commands[firstOutage - 1] : undefined;
        this.verified = this.commands[this.commands.length - 1];

        this.fromVersion = pulumi.output(this.plan.from);
        this.targetVersion = pulumi.output(this.plan.to);
        this.steps = pulumi.output(steps.map((s) => ({ name: `${name}-${s.key}`, title: s.title, phase: s.phase })));
        this.migrations = pulumi.output(plannedMigrationIds(this.plan));
        this.notices = pulumi.output(this.plan.notices.map((n) => `${n.id}: ${n.why}`));
        this.verifiedVersion = this.verified ? this.verified.stdout.apply(parseVerifiedVersion) : pulumi.output(undefined);
        this.backupPath = this.prepared ? this.prepared.stdout.apply(parseBackupPath) : pulumi.output(undefined);
        const preflight = byKey.get("preflight");
        this.detected = preflight ? preflight.stdout.apply(parseDetected) : pulumi.output(undefined);
        this.facts = pulumi.output(args.facts && reportedFacts(args.facts));
        this.restoredFrom = pulumi.output(this.plan.restore?.backup);
        const restorePreflight = byKey.get("restore-preflight");
        this.restoreLoss = restorePreflight ? restorePreflight.stdout.apply(parseRestoreLoss) : pulumi.output(undefined);

        this.registerOutputs({
            fromVersion: this.fromVersion,
            targetVersion: this.targetVersion,
            steps: this.steps,
            migrations: this.migrations,
            notices: this.notices,
            verifiedVersion: this.verifiedVersion,
            backupPath: this.backupPath,
            detected: this.detected,
            facts: this.facts,
            restoredFrom: this.restoredFrom,
            restoreLoss: this.restoreLoss,
        });
    }
}

/**
 * Each step waits for the one before it; the first for the previous batch, the first of the outage
 * (the stop, after this host's preparation) for the preparation of the whole batch.
 */
function dependencies(previous: pulumi.Resource | undefined, startsOutage: boolean, args: StackStormHostArgs): pulumi.Input<pulumi.Input<pulumi.Resource>[]> {
    if (!previous) return args.startAfter ?? [];
    if (startsOutage && args.outageAfter) return [previous, ...args.outageAfter];
    return [previous];
}

/** The host as preflight saw it. */
export interface Detected {
    distro: string;
    st2: string;
    freeMb: number;
    packages: Record<string, string>;
}

/** The JSON a step printed after `TAG ` at the start of a line, or undefined when it printed none. */
function taggedJson<T>(stdout: string, tag: string): T | undefined {
    const line = stdout.split("\n").find((l) => l.startsWith(`${tag} `));
    return line ? (JSON.parse(line.slice(tag.length + 1)) as T) : undefined;
}

/** `PREFLIGHT {...}` -> what preflight found. */
export function parseDetected(stdout: string): Detected | undefined {
    return taggedJson<Detected>(stdout, "PREFLIGHT");
}

/** `VERIFIED {"version":"3.9.0",...}` -> "3.9.0". */
export function parseVerifiedVersion(stdout: string): string | undefined {
    return taggedJson<{ version: string }>(stdout, "VERIFIED")?.version;
}

/** `BACKUP_PATH=/var/backups/...` -> the path. */
export function parseBackupPath(stdout: string): string | undefined {
    return stdout
        .split("\n")
        .find((l) => l.startsWith("BACKUP_PATH="))
        ?.slice("BACKUP_PATH=".length);
}

/** Work done since the backup that a restore replaces (restore preflight's count). */
export interface RestoreLoss {
    keysAdded: number;
    keysChanged: number;
    mistralExecutions: number;
}

/** `RESTORE_LOSS {...}` -> the counts. */
export function parseRestoreLoss(stdout: string): RestoreLoss | undefined {
    return taggedJson<RestoreLoss>(stdout, "RESTORE_LOSS");
}
