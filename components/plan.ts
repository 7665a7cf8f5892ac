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
    oldestRelease,
    releaseLine,
    type Migration,
    type Notice,
    type OsRelease,
    type PackageName,
} from "./catalog";

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
}

/**
 * Plans the upgrade of a host from `from` to `to`.
 *
 * @param installed packages installed on the host, when known; otherwise each leg lists every
 *   package its release publishes and the scripts upgrade only the installed ones.
 * @param skip ids of migrations done by hand: left out of the legs, listed in `skipped`.
 */
export function plan(from: string, to: string, installed?: readonly PackageName[], skip: readonly string[] = []): UpgradePlan {
    if (semver.valid(from) && semver.lt(from, oldestRelease())) {
        throw new Error(
            `cannot upgrade from ${from}: package upgrades are supported from ${oldestRelease()} on; ` +
                `move older deployments with a content roll-over`,
        );
    }
    releaseLine(from);
    releaseLine(to);
    if (semver.gt(from, to)) {
        throw new Error(
            `refusing to downgrade from ${from} to ${to}: StackStorm has no downgrade path ` +
                `(migrations are one-way); restore the host's backup instead`,
        );
    }
    if (from === to) {
        return { from, to, linesCrossed: [], legs: [], reloadFlags: [], notices: [], skipped: [] };
    }

    const crossed = linesCrossed(from, to);
    checkPackageRenames(from, to, installed);

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
        const packages = legPackages(line.packages, installed);
        return {
            version,
            packages,
            mistralDb: packages.includes("st2mistral"),
            mistralBeforeScripts: line.mistralBeforeScripts,
            migrations,
            ...(stones[i] ? { reason: stones[i].reason } : {}),
        };
    });

    const reloadFlags = [...new Set([...BASE_RELOAD_FLAGS, ...crossed.flatMap((l) => l.reloadFlags ?? [])])];
    const notices = crossed.flatMap((l) => l.migrations ?? []).filter((m): m is Notice => m.kind === "notice");
    return { from, to, linesCrossed: crossed.map((l) => l.line), legs, reloadFlags, notices, skipped };
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

function legPackages(published: readonly PackageName[], installed?: readonly PackageName[]): PackageName[] {
    return installed ? published.filter((p) => installed.includes(p)) : [...published];
}

/** Package changes the runbook leaves to a human: refuse them before any host is touched. */
function checkPackageRenames(from: string, to: string, installed?: readonly PackageName[]): void {
    if (!installed) return;
    if (installed.includes("st2enterprise") && compareLines(lineName(to), "2.0") >= 0) {
        throw new Error(
            `cannot upgrade ${from} -> ${to} with st2enterprise installed: 2.0 renamed it bwc-enterprise, ` +
                `which needs the enterprise repository; switch the package by hand, then upgrade`,
        );
    }
    if (installed.includes("bwc-enterprise") && !releaseLine(to).packages.includes("bwc-enterprise")) {
        throw new Error(
            `cannot upgrade ${from} -> ${to} with bwc-enterprise installed: the enterprise edition ends ` +
                `with 3.2; target 3.2.0 or remove bwc-enterprise first`,
        );
    }
}

/**
 * Operating systems whose StackStorm support ended before the catalog's newest line, with the last
 * line that supports them. MINIMAL LOCAL VERSION (h/facts) of the catalog helper's data, holding
 * only the facts cited here; an OS not listed is not refused.
 */
const OS_LAST_LINE: readonly { id: string; versionId: string; lastLine: string; source: string }[] = [
    {
        id: "ubuntu",
        versionId: "16.04",
        lastLine: "3.4",
        // st2docs branch v3.5, docs/source/install/system_requirements.rst (line 80): "Support for
        // Ubuntu 16.04 has been removed. st2 3.4 is the last release that supported ... 16.04."
        source: "st2docs v3.5 docs/source/install/system_requirements.rst",
    },
];

/**
 * Why `host` cannot be upgraded in place from `from` to `to` on `os` (the full operator message), or
 * undefined when it can.
 */
export function inPlaceRefusal(host: { name: string; address: string }, os: OsRelease, from: string, to: string): string | undefined {
    const limit = OS_LAST_LINE.find((o) => o.id === os.id && o.versionId === os.versionId);
    if (!limit || compareLines(lineName(to), limit.lastLine) <= 0) return undefined;
    const newest = lineByName(limit.lastLine).releases[lineByName(limit.lastLine).releases.length - 1];
    return (
        `host ${host.name} (${host.address}) runs ${os.id} ${os.versionId}, on which StackStorm ends with ${limit.lastLine} ` +
        `(${limit.source}): ${from} -> ${to} is impossible in place; the newest release this OS can reach in place is ${newest}. ` +
        `Ways forward: upgrade the OS first, or roll over to a new instance (docs/rollover.md), for example ` +
        `st2-upgrade:rollover: { oldHost: { name: ${host.name}, address: ${host.address}, user: <user>, version: "${from}" }, ` +
        `newHost: { name: ${host.name}-new, address: <a new instance on an OS that ${to} supports>, user: <user>, version: "${to}", st2: { username: st2admin } } }`
    );
}
