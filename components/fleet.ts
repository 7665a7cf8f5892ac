/**
 * StackStormFleet: hosts upgraded in batches. Batch k+1 starts only after every host of batch k
 * verified; with `rollout.stopOnFirstFailure`, no host of a batch stops its services before every
 * host of the batch has passed preflight, downloaded its packages and made its backup.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "./config";
import type { HostFacts, PlannedHost, ResolvedHost } from "./facts";
import { StackStormHost, type Detected, type StepSummary } from "./host";

export interface StackStormFleetArgs {
    /** Hosts completed from their facts, each with its plan (`resolveHosts`). */
    hosts: readonly PlannedHost[];
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
    /** What this run's read-only fact read found on the host, before any step. */
    facts?: HostFacts;
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
    readonly report: pulumi.Output<HostReport[]>;

    constructor(name: string, args: StackStormFleetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("st2upgrade:fleet:StackStormFleet", name, {}, opts);
        const { settings } = args;
        // The host's one plan (made by resolveHosts): it gates the batch and drives the host's steps.
        const indexed = args.hosts.map(({ host, plan }, index) => ({ host, index, plan }));
        const groups = batches(indexed, settings.rollout.batchSize);

        this.hosts = [];
        let previousBatch: pulumi.Resource[] = [];
        groups.forEach((group) => {
            // Each host's stop waits for the backups of its whole batch, including hosts created after
            // it: one promise per backup, resolved once the batch exists. Promises inside the
            // dependsOn array, never an Output or a promise of the array: pulumi.mergeOptions would
            // wrap those in pulumi.output(), which walks the resources it holds and, through their
            // parents, the whole fleet (previews of large fleets grew quadratically).
            const upgrading = group.filter((member) => member.plan.legs.length > 0);
            const gated = settings.rollout.stopOnFirstFailure && upgrading.length > 1;
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
            });
            this.hosts.push(...members);
            previousBatch = members.flatMap((m) => (m.verified ? [m.verified] : []));
        });

        this.batches = pulumi.output(groups.map((g) => g.map(({ host }) => host.name)));
        this.report = pulumi.all(
            this.hosts.map((h, i) => {
                const { host } = args.hosts[i];
                return pulumi
                    .all([h.steps, h.migrations, h.notices, h.verifiedVersion, h.backupPath, h.detected])
                    .apply(([steps, migrations, notices, verifiedVersion, backupPath, detected]): HostReport => ({
                        name: host.name,
                        address: host.address,
                        batch: Math.floor(i / settings.rollout.batchSize) + 1,
                        fromVersion: h.plan.from,
                        targetVersion: h.plan.to,
                        steps,
                        migrations,
                        skippedMigrations: h.plan.skipped,
                        notices,
                        ...(verifiedVersion ? { verifiedVersion } : {}),
                        ...(backupPath ? { backupPath } : {}),
                        ...(detected ? { detected } : {}),
                        ...(args.facts?.has(host.name) ? { facts: args.facts.get(host.name) } : {}),
                    }));
            }),
        );
        this.registerOutputs({ batches: this.batches, report: this.report });
    }
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
