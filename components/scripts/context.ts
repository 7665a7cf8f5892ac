/** What every step generator needs to know about one host's upgrade. */
import type { Settings } from "../config";
import type { ResolvedHost } from "../config";
import type { UpgradePlan } from "../plan";
import { packageManager, type PackageManagerStrategy } from "./packageManagers";
import { stepScript, type StepScript } from "./shell";

export interface StepContext {
    /** The host as planned: configuration completed from its facts. */
    host: ResolvedHost;
    /** Position in `hosts`, so that messages can name the config key to fix. */
    hostIndex: number;
    plan: UpgradePlan;
    settings: Settings;
}

/** One step of a host's chain. */
export interface Step {
    /** Stable key; the Pulumi resource is named `<host component>-<key>`. */
    key: string;
    title: string;
    /** `prepare` steps leave services running; `outage` steps run while StackStorm is down. */
    phase: "prepare" | "outage";
    script: StepScript;
}

export function pm(ctx: StepContext): PackageManagerStrategy {
    return packageManager(ctx.host.packageManager);
}

/** Builds a step of this host: the single place steps get their identity and time limit. */
export function makeStep(
    ctx: StepContext,
    key: string,
    title: string,
    phase: Step["phase"],
    timeoutSeconds: number,
    functions: readonly string[],
    lines: readonly string[],
): Step {
    const fullTitle = `${title} (host ${ctx.host.name}, ${ctx.plan.from} -> ${ctx.plan.to})`;
    return { key, title, phase, script: stepScript({ host: ctx.host.name, step: key, title: fullTitle }, functions, lines, timeoutSeconds) };
}
