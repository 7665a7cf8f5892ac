/**
 * StackStormFleet: hosts upgraded in batches. Batch k+1 starts only after every host of batch k
 * verified; with `rollout.prepareBatchBeforeStop`, no host of a batch stops its services before every
 * host of the batch has passed preflight, downloaded its packages and made its backup. Batches after
 * `rollout.throughBatch` are held: no resource exists for their hosts (components/rollout.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "./config";
import { reportedFacts, type HostFacts, type PlannedHost, type ReportedFacts, type ResolvedHost } from "./facts";
import { StackStormHost, type Detected, type RestoreLoss, type StepSummary } from "./host";
import { runsSteps } from "./plan";
import { heldMessage, rolloutScope, type HostStatus, type RolloutScope } from "./rollout";

export interface StackStormFleetArgs {
    /** Hosts completed from their facts, each with its plan (`resolveHosts`). */
    hosts: readonly PlannedHost[];
    /** The stack's target (every plan's `to`); one of the settings the fleet registers as its inputs. */
    targetVersion: string;
    /** What this run read on each host, by host name; reported per host. */
    facts?: ReadonlyMap<string, HostFacts>;
    /** Key for every host without one of its own. */
    privateKey?: pulumi.Input<string>;
    /** Keys of particular hosts, by host name. */
    hostKeys?: Readonly<Record<string, pulumi.Input<string>>>;
    settings: Settings;
}

/** What a pipeline reads per host (`pulumi stack output --json`). */
export interface HostReport {
    name: string;
    address: string;
    batch: number;
    /** Where the host stands in the rollout (components/rollout.ts); known at preview except upgraded/upgrading. */
    status: HostStatus;
    /** For a held host: the `rollout.throughBatch` that releases it (its batch). */
    heldUntilBatch?: number;
    fromVersion: string;
    targetVersion: string;
    steps: StepSummary[];
    migrations: string[];
    skippedMigrations: string[];
    notices: string[];
    verifiedVersion?: string;
    backupPath?: string;
    /** What preflight found on the host (distribution, installed packages, free space). */
    detected?: Detected;
    /** What this run's read-only fact read found on the host, before any step (free space left out: facts.ts). */
    facts?: ReportedFacts;
    /** For a restore (target below what the host ran): the backup folder it goes back to. */
    restoredFrom?: string;
    /** For a restore: the work since the backup that it replaced, as its preflight counted it. */
    restoreLoss?: RestoreLoss;
}

/** What a pipeline reads about the rollout as a whole (top-level output `rollout`). */
export interface RolloutReport extends RolloutScope {
    batchSize: number;
    /** Hosts whose steps are part of the stack (batches 1..throughBatch). */
    released: string[];
    /** No host is held: the stack covers every batch. */
    complete: boolean;
    /** The `rollout.throughBatch` that continues the rollout; absent when complete. */
    nextThroughBatch?: number;
}

/** Splits hosts into batches of `size`, keeping their order. */
export function batches<T>(items: readonly T[], size: number): T[][] {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
}

export class StackStormFleet extends pulumi.ComponentResource {
    readonly hosts: StackStormHost[];
    /** Host names per batch, in rollout order. */
    readonly batches: pulumi.Output<string[][]>;
    /** How far this stack goes: held and released hosts, the next `throughBatch` (known at preview). */
    readonly rollout: pulumi.Output<RolloutReport>;
    readonly report: pulumi.Output<HostReport[]>;

    constructor(name: string, args: StackStormFleetArgs, opts?: pulumi.ComponentResourceOptions) {
        // The settings are the component's inputs: registered before any step (every step is its
        // descendant, and a child registers only once its parent has), so `pulumi up --plan` refuses a
        // setting changed since the preview here, before any host is touched, instead of at the first
        // step whose script differs (for verify.smokeCommand: after the outage). See README, Pipelines.
        super("st2upgrade:fleet:StackStormFleet", name, { settings: planInputs(args) }, opts);
        const { settings } = args;
        // The host's one plan (made by resolveHosts): it gates the batch and drives the host's steps.
        const indexed = args.hosts.map(({ host, plan }, index) => ({ host, index, plan }));
        const groups = batches(indexed, settings.rollout.batchSize);

        const scope = rolloutScope(args.hosts.map(({ host }) => host.name), settings.rollout);
        const message = heldMessage(args.hosts.map(({ host }) => host.name), settings.rollout);
        if (message) pulumi.log.info(message, this);

        this.hosts = [];
        // Aligned with args.hosts; undefined for a held host (no resource at all).
        const byIndex: (StackStormHost | undefined)[] = new Array(args.hosts.length).fill(undefined);
        let previousBatch: pulumi.Resource[] = [];
        groups.forEach((group, g) => {
            if (g + 1 > scope.throughBatch) return;
            // Each host's stop waits for the backups of its whole batch, including hosts created after
            // it: one promise per backup, resolved once the batch exists. Promises inside the
            // dependsOn array, never an Output or a promise of the array: pulumi.mergeOptions would
            // wrap those in pulumi.output(), which walks the resources it holds and, through their
            // parents, the whole fleet (previews of large fleets grew quadratically).
            const upgrading = group.filter((member) => runsSteps(member.plan));
            const gated = settings.rollout.prepareBatchBeforeStop && upgrading.length > 1;
            const backups = new Map(upgrading.map(({ host }) => [host.name, deferred<pulumi.Resource>()]));
            const outageAfter = gated ? [...backups.values()].map((d) => d.promise) : undefined;
            const members = group.map(
                ({ host, index, plan }) =>
                    new StackStormHost(
                        `${name}-${host.name}`,
                        {
                            host,
                            hostIndex: index,
                            plan,
                            privateKey: keyFor(host, args),
                            facts: args.facts?.get(host.name),
                            settings,
                            startAfter: previousBatch,
                            outageAfter,
                        },
                        { parent: this },
                    ),
            );
            members.forEach((m, i) => {
                if (m.prepared) backups.get(group[i].host.name)?.resolve(m.prepared);
                byIndex[group[i].index] = m;
            });
            this.hosts.push(...members);
            previousBatch = members.flatMap((m) => (m.verified ? [m.verified] : []));
        });

        this.batches = pulumi.output(groups.map((g) => g.map(({ host }) => host.name)));
        this.rollout = pulumi.output({
            ...scope,
            batchSize: settings.rollout.batchSize,
            released: args.hosts.filter(({ host }) => !scope.held.includes(host.name)).map(({ host }) => host.name),
            complete: scope.held.length === 0,
            ...(scope.held.length ? { nextThroughBatch: scope.throughBatch + 1 } : {}),
        });
        this.report = pulumi.all(
            indexed.map(({ host, plan: hostPlan }, i) => {
                const h = byIndex[i];
                const batch = Math.floor(i / settings.rollout.batchSize) + 1;
                const read = args.facts?.get(host.name);
                const facts = read ? { facts: reportedFacts(read) } : {};
                if (!h) {
                    return pulumi.output<HostReport>({
                        name: host.name,
                        address: host.address,
                        batch,
                        status: "held",
                        heldUntilBatch: batch,
                        fromVersion: hostPlan.from,
                        targetVersion: hostPlan.to,
                        steps: [],
                        migrations: [],
                        skippedMigrations: hostPlan.skipped,
                        notices: hostPlan.notices.map((n) => `${n.id}: ${n.why}`),
                        ...facts,
                    });
                }
                return pulumi
                    .all([h.steps, h.migrations, h.notices, h.verifiedVersion, h.backupPath, h.detected, h.restoreLoss])
                    .apply(([steps, migrations, notices, verifiedVersion, backupPath, detected, restoreLoss]): HostReport => ({
                        name: host.name,
                        address: host.address,
                        batch,
                        status: hostStatus(h, verifiedVersion),
                        fromVersion: h.plan.from,
                        targetVersion: h.plan.to,
                        steps,
                        migrations,
                        skippedMigrations: h.plan.skipped,
                        notices,
                        ...(verifiedVersion ? { verifiedVersion } : {}),
                        ...(backupPath ? { backupPath } : {}),
                        ...(detected ? { detected } : {}),
                        ...(h.plan.restore ? { restoredFrom: h.plan.restore.backup } : {}),
                        ...(restoreLoss ? { restoreLoss } : {}),
                        ...facts,
                    }));
            }),
        );
        this.registerOutputs({ batches: this.batches, rollout: this.rollout, report: this.report });
    }
}

/**
 * What the plan of a run depends on besides the hosts' facts, with no secret: the target, the hosts'
 * addresses and every setting. Stable while the configuration is (a second run shows no change).
 */
export function planInputs(args: Pick<StackStormFleetArgs, "hosts" | "targetVersion" | "settings">): Record<string, unknown> {
    const { skipMigrations, ssh, mistral, rollout, backup, restore, preflight, timeouts, verify } = args.settings;
    return {
        targetVersion: args.targetVersion,
        hosts: args.hosts.map(({ host: h }) => ({ name: h.name, address: h.address, port: h.port, user: h.user })),
        skipMigrations, ssh, mistral, rollout, backup, preflight, timeouts, verify,
        // Only when set: stacks written before restores existed keep the inputs they recorded.
        ...(restore.acceptLoss ? { restore } : {}),
    };
}

function hostStatus(h: StackStormHost, verifiedVersion: string | undefined): HostStatus {
    if (!h.verified) return "current";
    if (h.plan.restore) return verifiedVersion === h.plan.to ? "restored" : "restoring";
    return verifiedVersion === h.plan.to ? "upgraded" : "upgrading";
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
    let resolve: (value: T) => void = () => undefined;
    const promise = new Promise<T>((r) => (resolve = r));
    return { promise, resolve };
}

function keyFor(host: ResolvedHost, args: StackStormFleetArgs): pulumi.Input<string> {
    const key = args.hostKeys?.[host.name] ?? args.privateKey;
    if (key === undefined) throw new Error(`host ${host.name} has no SSH private key`);
    return key;
}
