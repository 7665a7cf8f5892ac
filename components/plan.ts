/**
 * Decides what an upgrade from one StackStorm release to another must do, from the catalog alone:
 * no Pulumi, no I/O, so every rule here is unit-tested.
 */
import * as semver from "semver";
import {
    BASE_RELOAD_FLAGS,
    compareLines,
    lineByName,
    lineName,
    linesCrossed,
    lineSupports,
    newestInPlace,
    oldestRelease,
    osKey,
    osKeyLabel,
    osLabel,
    releaseLine,
    type Migration,
    type Notice,
    type OsKey,
    type OsRelease,
    type PackageName,
    type ReleaseLine,
} from "./catalog";

export { newestInPlace, type OsRelease };

/** Enterprise packages that follow bwc-enterprise's version, upgraded with it when installed. */
export const ENTERPRISE_SUBPACKAGES: readonly PackageName[] = ["st2flow", "bwc-ui", "st2-auth-ldap", "st2-rbac-backend"];

/** A migration the program executes (notices are only shown). */
export type ExecutableMigration = Exclude<Migration, Notice>;

/** One package upgrade and what must follow it before services may start again. */
export interface PackageLeg {
    /** Release the packages are upgraded to. */
    version: string;
    /**
     * Packages to upgrade. When the host's installed packages are unknown at plan time these are
     * all the packages the release publishes, and the generated script skips those not installed.
     */
    packages: PackageName[];
    /** Whether this leg upgrades the Mistral database (`upgrade head`, then `populate`). */
    mistralDb: boolean;
    /** Runbook order of the leg's release: Mistral DB before the migration scripts (2.2+) or after. */
    mistralBeforeScripts: boolean;
    migrations: ExecutableMigration[];
    /** Set on stepping stones: why the upgrade stops at this release on the way. */
    reason?: string;
}

export interface UpgradePlan {
    from: string;
    to: string;
    /** Release lines crossed, skipped ones included, oldest first. */
    linesCrossed: string[];
    /** Package upgrades in order; more than one when a stepping stone is needed. Empty when from = to. */
    legs: PackageLeg[];
    /** Flags of the `st2ctl reload` that runs before services start again. */
    reloadFlags: string[];
    /** What the operator must know or do by hand; shown in preview and outputs. */
    notices: Notice[];
    /** Migrations the plan would run but the operator said were done by hand. */
    skipped: string[];
    /**
     * Set when the plan is an undo: `to` is below `from` and the host goes back to the backup its
     * upgrade from `to` took (components/scripts/restore.ts); `legs` is then empty.
     */
    restore?: RestoreSource;
}

/** The pre-upgrade backup a restore plan goes back to, as the host's facts found it. */
export interface RestoreSource {
    /** The backup folder's name under `backup.dir` (`<UTC time>-<from>-to-<to>`). */
    backup: string;
    /** The release the host ran when the backup was taken: the restore's target. */
    takenAt: string;
    /** The release that upgrade went to. */
    upgradedTo: string;
}

/**
 * Plans the upgrade of a host from `from` to `to`.
 *
 * @param installed packages installed on the host, when known; otherwise each leg lists every
 *   package its release publishes and the scripts upgrade only the installed ones.
 * @param skip ids of migrations done by hand: left out of the legs, listed in `skipped`.
 * @param os the host's /etc/os-release, when known: every line crossed must support it, and
 *   distribution-specific reload flags follow it; when unknown they all apply and a notice says so.
 */
export function plan(from: string, to: string, installed?: readonly PackageName[], skip: readonly string[] = [], os?: OsRelease): UpgradePlan {
    checkUpgrade(from, to, installed);
    if (from === to) {
        return { from, to, linesCrossed: [], legs: [], reloadFlags: [], notices: [], skipped: [] };
    }

    const crossed = linesCrossed(from, to);
    if (os) {
        const problem = osProblem(os, from, to);
        if (problem) throw new Error(problem);
    }

    const stones = steppingStones(crossed.flatMap((l) => l.migrations ?? []), lineName(to));
    const boundaries = [...stones.map((s) => s.version), to];
    const skipped: string[] = [];
    const legs: PackageLeg[] = boundaries.map((version, i) => {
        const previous = i === 0 ? from : boundaries[i - 1];
        const line = releaseLine(version);
        const crossedHere = linesCrossed(previous, version)
            .flatMap((l) => l.migrations ?? [])
            .filter((m): m is ExecutableMigration => m.kind !== "notice");
        skipped.push(...crossedHere.filter((m) => skip.includes(m.id)).map((m) => m.id));
        const migrations = crossedHere.filter((m) => !skip.includes(m.id));
        const packages = legPackages(line, installed);
        return {
            version,
            packages,
            mistralDb: packages.includes("st2mistral"),
            mistralBeforeScripts: line.mistralBeforeScripts,
            migrations,
            ...(stones[i] ? { reason: stones[i].reason } : {}),
        };
    });

    const { flags, assumed } = reloadFlagsFor(crossed, os);
    const reloadFlags = [...new Set([...BASE_RELOAD_FLAGS, ...flags])];
    const notices: Notice[] = crossed.flatMap((l) => l.migrations ?? []).filter((m): m is Notice => m.kind === "notice");
    if (!os) {
        const common = crossed.reduce<readonly OsKey[]>((acc, l) => acc.filter((o) => l.os.includes(o)), lineByName(lineName(from)).os);
        if (!common.length) {
            notices.push({
                kind: "notice",
                id: "os-no-common-distribution",
                why: `no distribution has StackStorm packages for every line from ${lineName(from)} to ${lineName(to)}: a real host cannot take ${from} -> ${to} in place (upgrade its OS on the way, or roll over)`,
            });
        }
    }
    if (assumed.length) {
        notices.push({
            kind: "notice",
            id: "os-unknown",
            why: `the host's distribution is unknown to the plan, so it runs ${assumed.join("; ")} as if the host needed it (harmless, slower)`,
        });
    }
    return { from, to, linesCrossed: crossed.map((l) => l.line), legs, reloadFlags, notices, skipped };
}

/**
 * The refusals of `plan` that need neither the host's OS nor the legs: a release too old, unknown, a
 * downgrade, installed packages the runbook leaves to a human. Throws with the reason. Configuration
 * checks asserted versions with it before any host is read; `plan` runs it first.
 */
export function checkUpgrade(from: string, to: string, installed?: readonly PackageName[], restorable = false): void {
    if (semver.valid(from) && semver.lt(from, oldestRelease())) {
        throw new Error(
            `cannot upgrade from ${from}: package upgrades are supported from ${oldestRelease()} on; ` +
                `move older deployments with a content roll-over`,
        );
    }
    releaseLine(from);
    releaseLine(to);
    if (semver.gt(from, to)) {
        if (restorable) return;
        throw new Error(
            `refusing to downgrade from ${from} to ${to}: StackStorm has no downgrade path ` +
                `(migrations are one-way); restore the host's backup instead`,
        );
    }
    if (from !== to) checkPackageRenames(from, to, installed);
}

/** The releases an upgrade from `from` to `to` installs, in order: its stepping stones, then `to` (the legs' versions). */
export function upgradePath(from: string, to: string): string[] {
    checkUpgrade(from, to);
    if (from === to) return [];
    return [...steppingStones(linesCrossed(from, to).flatMap((l) => l.migrations ?? []), lineName(to)).map((s) => s.version), to];
}

/** Every migration id a plan executes, in order. */
export function plannedMigrationIds(p: UpgradePlan): string[] {
    return p.legs.flatMap((leg) => leg.migrations.map((m) => m.id));
}

interface Stone {
    version: string;
    reason: string;
}

/**
 * Scripts that later packages stopped shipping must run from a release that still ships them: the
 * upgrade pauses at the last release of that line, like MongoDB's 3.4 -> 3.6 -> 4.0 path.
 */
function steppingStones(migrations: readonly Migration[], toLine: string): Stone[] {
    const byLine = new Map<string, string[]>();
    for (const m of migrations) {
        if (m.kind === "script" && m.shippedUntil && compareLines(toLine, m.shippedUntil) > 0) {
            byLine.set(m.shippedUntil, [...(byLine.get(m.shippedUntil) ?? []), m.path.split("/").pop()!]);
        }
    }
    return [...byLine.entries()]
        .sort(([a], [b]) => compareLines(a, b))
        .map(([line, scripts]) => {
            const releases = lineByName(line).releases;
            return {
                version: releases[releases.length - 1],
                reason: `stepping stone: ${scripts.join(", ")} ship only up to ${line}`,
            };
        });
}

/** The line's packages that are installed; bwc-enterprise brings its sub-packages (skipped on the host when absent). */
function legPackages(line: ReleaseLine, installed?: readonly PackageName[]): PackageName[] {
    if (!installed) return [...line.packages];
    const enterprise = installed.includes("bwc-enterprise");
    return line.packages.filter((p) => installed.includes(p) || (enterprise && ENTERPRISE_SUBPACKAGES.includes(p)));
}

/** The `st2ctl reload` flags of the lines crossed that apply to `os`; all of them, listed in `assumed`, when it is unknown. */
function reloadFlagsFor(crossed: readonly ReleaseLine[], os?: OsRelease): { flags: string[]; assumed: string[] } {
    const key = os ? osKey(os) : undefined;
    const flags: string[] = [];
    const assumed: string[] = [];
    for (const line of crossed) {
        for (const f of line.reloadFlags ?? []) {
            if (!f.onlyOn || (key && f.onlyOn.includes(key))) flags.push(f.flag);
            else if (!os) {
                flags.push(f.flag);
                assumed.push(`\`st2ctl reload ${f.flag}\` (${line.line}, ${f.onlyOn.map(osKeyLabel).join(", ")} only: ${f.why})`);
            }
        }
    }
    return { flags, assumed };
}

/**
 * Installed packages that make an upgrade from `from` to `to` a human's job, with the reason. The
 * plan refuses them when `installed` is known; preflight checks the host for them when it is not.
 */
export function refusedPackages(from: string, to: string): { pkg: PackageName; message: string }[] {
    const refused: { pkg: PackageName; message: string }[] = [];
    if (compareLines(lineName(to), "2.0") >= 0 && compareLines(lineName(from), "2.0") < 0) {
        refused.push({
            pkg: "st2enterprise",
            message:
                `cannot upgrade ${from} -> ${to} with st2enterprise installed: 2.0 renamed it bwc-enterprise, ` +
                `which needs the enterprise repository; switch the package by hand, then upgrade`,
        });
    }
    if (!releaseLine(to).packages.includes("bwc-enterprise")) {
        refused.push({
            pkg: "bwc-enterprise",
            message:
                `cannot upgrade ${from} -> ${to} with bwc-enterprise installed: the enterprise edition ends ` +
                `with 3.2; target 3.2.0 or remove bwc-enterprise first`,
        });
    }
    return refused;
}

/** Package changes the runbook leaves to a human: refuse them before any host is touched. */
function checkPackageRenames(from: string, to: string, installed?: readonly PackageName[]): void {
    if (!installed) return;
    const refused = refusedPackages(from, to).find((r) => installed.includes(r.pkg));
    if (refused) throw new Error(refused.message);
}

/** The lines crossed from `from` to `to` whose packages are not published for `os`. */
function unsupportedLines(os: OsRelease, from: string, to: string): ReleaseLine[] {
    return linesCrossed(from, to).filter((l) => !lineSupports(l, os));
}

/** Why `os` cannot take `from` -> `to` in place (no host named), or undefined. */
function osProblem(os: OsRelease, from: string, to: string): string | undefined {
    const unsupported = unsupportedLines(os, from, to);
    if (!unsupported.length) return undefined;
    const newest = newestInPlace(os, from);
    const first = unsupported[0];
    const reach =
        newest && newest !== from
            ? `the newest release ${osLabel(os)} can reach in place from ${from} is ${newest}`
            : `${osLabel(os)} cannot take any newer release line in place from ${from}`;
    return (
        `StackStorm ${first.line} is not published for ${osLabel(os)} (${first.line} supports ${first.os.map(osKeyLabel).join(", ")}), ` +
        `so ${from} -> ${to} is impossible in place; ${reach}`
    );
}

/**
 * Undefined when every release line on the way from `from` to `to` supports the host's OS; else
 * the whole message for the operator: the host, its OS, how far it can go in place and the ways
 * forward (upgrade the OS first, or roll over to a new instance with an example config).
 */
export function inPlaceRefusal(host: { name: string; address: string }, os: OsRelease, from: string, to: string): string | undefined {
    const problem = osProblem(os, from, to);
    if (!problem) return undefined;
    const newest = newestInPlace(os, from);
    const target = releaseLine(to);
    const partial = newest && newest !== from ? ` or set its target to ${newest} for now;` : "";
    return [
        `host ${host.name} (${host.address}) runs ${osLabel(os)}: ${problem}.`,
        `Ways forward:`,
        `  1. upgrade the OS first, to one that StackStorm ${to} supports (${target.os.map(osKeyLabel).join(", ")}), then run pulumi up again;${partial}`,
        `  2. roll over to a new instance running ${to} (docs/rollover.md), with this stack configuration:`,
        `       st2-upgrade:rollover:`,
        `         oldHost: { name: ${host.name}, address: ${host.address}, user: stackstorm, version: "${from}" }`,
        `         newHost: { name: ${host.name}-new, address: <new instance>, user: stackstorm, version: "${to}", st2: { username: st2admin } }`,
        `     and remove ${host.name} from st2-upgrade:hosts.`,
    ].join("\n");
}

/**
 * The undo of an upgrade: back from `from` to the release the backup was taken at. Only that exact
 * release: a restore puts back the packages, configuration and databases the backup holds, so any
 * other target below `from` would be a downgrade, which StackStorm has no path for. Throws with what
 * is possible instead.
 */
export function restorePlan(from: string, to: string, newest: RestoreSource | undefined): UpgradePlan {
    releaseLine(from);
    releaseLine(to);
    if (!newest) {
        throw new Error(
            `refusing to go back from ${from} to ${to}: the host has no complete st2-upgrade backup to restore ` +
                `(StackStorm has no downgrade path: migrations are one-way). Keep targetVersion at ${from}`,
        );
    }
    if (newest.takenAt !== to) {
        const possible = semver.lt(newest.takenAt, from) ? `targetVersion ${newest.takenAt} restores it` : `only targetVersion ${from} is possible`;
        throw new Error(
            `refusing to go back from ${from} to ${to}: the newest backup on the host (${newest.backup}) was taken at ${newest.takenAt}, ` +
                `and a restore can only return to the release its backup was taken at (StackStorm has no downgrade path); ${possible}`,
        );
    }
    if (newest.upgradedTo !== from) {
        throw new Error(
            `refusing to go back from ${from} to ${to}: the newest backup on the host (${newest.backup}) was taken before an upgrade to ` +
                `${newest.upgradedTo}, but the host runs ${from}: it was changed since by something else than that upgrade. Restore by hand, or keep targetVersion at ${from}`,
        );
    }
    return {
        from,
        to,
        linesCrossed: [],
        legs: [],
        reloadFlags: [...BASE_RELOAD_FLAGS],
        notices: [
            {
                kind: "notice",
                id: "restore",
                why:
                    `restores the backup ${newest.backup} (taken at ${to} before the upgrade to ${from}): packages, /etc/st2, /etc/mistral, ` +
                    `backup.extraPaths and the databases go back to that moment; preflight refuses if work since would be lost, unless restore.acceptLoss`,
            },
        ],
        skipped: [],
        restore: newest,
    };
}

/** Whether the plan has anything to run on its host: package legs, or a restore. */
export function runsSteps(p: UpgradePlan): boolean {
    return p.legs.length > 0 || p.restore !== undefined;
}

/** `20261128T031500Z-3.0.1-to-3.2.0` -> where a backup folder's name says it was taken; undefined for other names. */
export function parseBackupName(name: string): RestoreSource | undefined {
    const m = /^\d{8}T\d{6}Z-(\d+\.\d+\.\d+)-to-(\d+\.\d+\.\d+)$/.exec(name);
    return m ? { backup: name, takenAt: m[1], upgradedTo: m[2] } : undefined;
}
