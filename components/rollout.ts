/**
 * How far a run goes: `rollout.throughBatch` (a canary, an approval between batches). Pure: the fleet
 * and the fact read (facts.ts `planHosts`) both ask it which hosts are held.
 */
import { CONFIG_NAMESPACE, type Settings } from "./config";

/** One host's place in the rollout, as the outputs report it. */
export type HostStatus =
    /** Its batch is after `rollout.throughBatch`: no step of it exists, nothing touches it. */
    | "held"
    /** At the target with nothing to do (no step). */
    | "current"
    /** Its steps are part of the stack; `verify` has not reported the target (yet). */
    | "upgrading"
    /** Its `verify` read the target back from the host. */
    | "upgraded"
    /** Going back to its pre-upgrade backup (a target below what it ran); `restore-verify` has not reported it yet. */
    | "restoring"
    /** Its `restore-verify` read the backup's release back from the host. */
    | "restored";

/** 1-based batch of the host at `index` of the `hosts` config. */
export function batchOf(index: number, batchSize: number): number {
    return Math.floor(index / batchSize) + 1;
}

/** Where a run stops, for outputs and messages. */
export interface RolloutScope {
    /** Number of batches the hosts make. */
    batches: number;
    /** The last batch this run upgrades (every batch when `throughBatch` is unset or beyond the last). */
    throughBatch: number;
    /** Names of the hosts after `throughBatch`, in config order. */
    held: string[];
}

export function rolloutScope(names: readonly string[], rollout: Settings["rollout"]): RolloutScope {
    const batches = Math.ceil(names.length / rollout.batchSize);
    const throughBatch = Math.min(rollout.throughBatch ?? batches, batches);
    return { batches, throughBatch, held: names.filter((_, i) => batchOf(i, rollout.batchSize) > throughBatch) };
}

/**
 * Hosts `throughBatch` would hold although this stack already started their upgrade to `target`
 * (their steps are in the last checkpoint): holding them would drop those steps from the state,
 * and raising the setting again would plan them from wherever the host is. Refused instead, naming
 * the batch to set; nothing has touched a host at that point.
 */
export function heldButStarted(
    names: readonly string[],
    rollout: Settings["rollout"],
    started: (name: string) => boolean,
): string[] {
    const scope = rolloutScope(names, rollout);
    const late = scope.held.filter(started);
    if (!late.length) return [];
    const needed = Math.max(...late.map((n) => batchOf(names.indexOf(n), rollout.batchSize)));
    return [
        `${CONFIG_NAMESPACE}:rollout.throughBatch is ${rollout.throughBatch} but this stack already started upgrading ` +
            `${late.join(", ")} (batch ${needed === scope.throughBatch + 1 ? needed : `up to ${needed}`}): a batch that has begun cannot be held again. ` +
            `Example: rollout: { throughBatch: ${needed} }`,
    ];
}

/** The preview's one line about held hosts, or undefined when none is held. */
export function heldMessage(names: readonly string[], rollout: Settings["rollout"]): string | undefined {
    const scope = rolloutScope(names, rollout);
    if (!scope.held.length) return undefined;
    const first = scope.throughBatch + 1;
    const range = first === scope.batches ? `batch ${first}` : `batches ${first}-${scope.batches}`;
    return (
        `${CONFIG_NAMESPACE}:rollout.throughBatch is ${scope.throughBatch}: ${range} held (${scope.held.join(", ")}): ` +
        `no step exists for ${scope.held.length > 1 ? "them" : "it"} and nothing touches ${scope.held.length > 1 ? "them" : "it"}. ` +
        `Set rollout.throughBatch to ${first} to continue`
    );
}
