/** Steps that run while StackStorm is stopped: the outage is exactly stop -> start. */
import { PACKAGE_NAMES } from "../catalog";
import type { PackageLeg } from "../plan";
import { makeStep, pm, type Step, type StepContext } from "./context";
import { legPins, serviceExists, st2ctlDown, st2Processes, versionGe } from "./library";
import { q } from "./shell";

/** Stops every service and waits until no StackStorm or Mistral process is left. */
export function stop(ctx: StepContext, key = "stop"): Step {
    const lines = [
        `command -v st2ctl >/dev/null || die "st2ctl not found: is StackStorm installed?"`,
        `st2ctl stop`,
        ...stopMistralLines(ctx),
        ...waitNoProcessesLines(),
        `log "StackStorm is stopped"`,
    ];
    return makeStep(ctx, key, "stop StackStorm and Mistral services", "outage", ctx.settings.timeouts.step, [serviceExists, st2Processes], lines);
}

function stopMistralLines(ctx: StepContext): string[] {
    return [
        `for svc in ${ctx.settings.mistral.services.map(q).join(" ")}; do`,
        `  if service_exists "$svc"; then service "$svc" stop || die "could not stop $svc"; fi`,
        `done`,
    ];
}

/** A service that ignores stop keeps old code running after the upgrade (StackStorm/st2 #2438). */
function waitNoProcessesLines(): string[] {
    return [
        `for _ in $(seq 1 60); do`,
        `  left=$(st2_processes)`,
        `  if [ -z "$left" ]; then break; fi`,
        `  sleep 1`,
        `done`,
        `[ -z "$left" ] || die "processes still running 60 s after stop: $(printf '%s' "$left" | tr '\\n' ';')"`,
    ];
}

/** Upgrades the installed packages to exactly the leg's release, each at its own revision. */
export function packages(ctx: StepContext, leg: PackageLeg): Step {
    const lines = [
        `pm_repair`,
        `pins=$(leg_pins ${q(leg.version)} ${leg.packages.map(q).join(" ")})`,
        `if [ -z "$pins" ]; then log "every installed package is already at ${leg.version}"; exit 0; fi`,
        `mapfile -t tokens <<<"$pins"`,
        `log "upgrading \${tokens[*]}"`,
        `pm_upgrade "\${tokens[@]}" || die "the package upgrade to ${leg.version} failed (see the package manager's output above); nothing was removed, fix the cause and run pulumi up again"`,
        `log "st2 is now $(pm_installed st2)"`,
    ];
    const why = leg.reason ? `: ${leg.reason}` : "";
    return makeStep(ctx, `packages-${leg.version}`, `upgrade packages to ${leg.version}${why}`, "outage", ctx.settings.timeouts.packages, [pm(ctx).query, pm(ctx).install, versionGe, legPins], lines);
}

/** Reloads content with the new code, then starts every service (Mistral too, where st2ctl manages it). */
export function start(ctx: StepContext, key = "start"): Step {
    const lines = [`st2ctl reload ${ctx.plan.reloadFlags.map(q).join(" ")}`, `st2ctl start`, `log "StackStorm started"`];
    return makeStep(ctx, key, "register content and start services", "outage", ctx.settings.timeouts.step, [], lines);
}

/**
 * Every package at the target, `st2 --version` agreeing, every installed service running, and a real
 * action run: StackStorm has no health endpoint, so a smoke execution is the proof.
 */
export function verify(ctx: StepContext, key = "verify"): Step {
    const { plan, settings } = ctx;
    // A restore checks every package the host has: the backup's are all back at `to`.
    const packages = plan.restore ? (ctx.host.packages ?? PACKAGE_NAMES) : plan.legs[plan.legs.length - 1].packages;
    const lines = [
        `versions=""`,
        `for p in ${packages.map(q).join(" ")}; do`,
        `  v=$(pm_installed "$p")`,
        `  if [ -z "$v" ]; then continue; fi`,
        `  [ "\${v%%-*}" = ${q(plan.to)} ] || die "$p is at $v, expected ${plan.to}"`,
        `  versions+="\${versions:+,}\\"$p\\":\\"$v\\""`,
        `done`,
        `cli=$(st2 --version 2>&1 | head -n 1)`,
        `case "$cli" in "st2 ${plan.to}"|"st2 ${plan.to},"*) ;; *) die "st2 --version says '$cli', expected ${plan.to}" ;; esac`,
        `deadline=$((SECONDS + ${settings.verify.settleSeconds}))`,
        `while :; do`,
        `  down=$(st2ctl status 2>&1 | st2ctl_down || true)`,
        `  if [ -z "$down" ] && smoke=$(${settings.verify.smokeCommand} 2>&1); then break; fi`,
        `  if [ "$SECONDS" -ge "$deadline" ]; then`,
        `    [ -z "$down" ] || die "services not running after ${settings.verify.settleSeconds} s: $(printf '%s' "$down" | tr '\\n' ';')"`,
        `    die "smoke test failed: ${settings.verify.smokeCommand.replace(/["\\$`]/g, "\\$&")}: $(printf '%s' "\${smoke:-}" | tail -n 3 | tr '\\n' ' ')"`,
        `  fi`,
        `  sleep 2`,
        `done`,
        `log "smoke test passed"`,
        `printf 'VERIFIED {"version":"%s","packages":{%s}}\\n' ${q(plan.to)} "$versions"`,
    ];
    return makeStep(ctx, key, "verify versions, services and a smoke run", "outage", ctx.settings.timeouts.step, [pm(ctx).query, st2ctlDown], lines);
}
