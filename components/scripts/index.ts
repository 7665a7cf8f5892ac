/**
 * The table of contents of a host upgrade: which steps, in which order. Each step's script comes
 * from its own module; this file only orders them.
 */
import { runsSteps, type PackageLeg } from "../plan";
import type { Step, StepContext } from "./context";
import { migration } from "./migrations";
import { mistralDb } from "./mistral";
import { packages, start, stop, verify } from "./outage";
import { backup, fetch, preflight } from "./prepare";
import { restoreSteps } from "./restore";

export type { Step, StepContext } from "./context";
export type { StepScript } from "./shell";

/**
 * Every step of one host's upgrade, in execution order; empty when the host is already at target. A
 * restore plan (back to the host's pre-upgrade backup) gets the restore chain instead.
 */
export function upgradeSteps(ctx: StepContext): Step[] {
    if (!runsSteps(ctx.plan)) return [];
    if (ctx.plan.restore) return restoreSteps(ctx, ctx.plan.restore);
    return [preflight(ctx), fetch(ctx), backup(ctx), stop(ctx), ...ctx.plan.legs.flatMap((leg) => legSteps(ctx, leg)), start(ctx), verify(ctx)];
}

/** Packages, then the Mistral database and the migrations in the order the leg's runbook gives. */
function legSteps(ctx: StepContext, leg: PackageLeg): Step[] {
    const db = leg.mistralDb ? [mistralDb(ctx, leg)] : [];
    const migrations = leg.migrations.map((m) => migration(ctx, m, leg.version));
    return [packages(ctx, leg), ...(leg.mistralBeforeScripts ? [...db, ...migrations] : [...migrations, ...db])];
}
