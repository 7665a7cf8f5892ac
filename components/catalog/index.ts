/** Read-only questions about the version catalog. */
import * as semver from "semver";
import { BASE_RELOAD_FLAGS, DEFAULT_CONFIG_FILE_SINCE, KEY_LIST_FLAGS, RELEASE_LINES, ST2_CONF_PATH, UBUNTU_CODENAMES } from "./releases";
import type { ReleaseLine, ScriptMigration } from "./types";

export * from "./types";
export { lineSupports, newestInPlace, osKey, osKeyLabel, osLabel } from "./os";
export { BASE_RELOAD_FLAGS };

/** The line ("2.10") a release ("2.10.4") belongs to. */
export function lineName(version: string): string {
    const v = semver.parse(version);
    if (!v) {
        throw new Error(`"${version}" is not a version: expected MAJOR.MINOR.PATCH, for example "3.9.0"`);
    }
    return `${v.major}.${v.minor}`;
}

/** Every release the catalog knows, oldest first. */
export function knownReleases(): string[] {
    return RELEASE_LINES.flatMap((l) => [...l.releases]);
}

export function latestRelease(): string {
    const all = knownReleases();
    return all[all.length - 1];
}

export function oldestRelease(): string {
    return knownReleases()[0];
}

/** The catalog line of a known release; a clear error for anything else. */
export function releaseLine(version: string): ReleaseLine {
    const name = lineName(version);
    const line = RELEASE_LINES.find((l) => l.line === name);
    if (!line || !line.releases.includes(version)) {
        const hint = line
            ? `the ${name} line has ${line.releases.join(", ")}`
            : `known lines: ${RELEASE_LINES.map((l) => l.line).join(", ")}`;
        throw new Error(
            `unknown StackStorm version "${version}": ${hint}. ` +
                `A new release needs an entry in components/catalog/releases.ts.`,
        );
    }
    return line;
}

export function lineByName(name: string): ReleaseLine {
    const line = RELEASE_LINES.find((l) => l.line === name);
    if (!line) {
        throw new Error(`unknown StackStorm release line "${name}"`);
    }
    return line;
}

/** Lines strictly after `from`'s line up to and including `to`'s line: every line an upgrade crosses. */
export function linesCrossed(from: string, to: string): ReleaseLine[] {
    const fromLine = semver.coerce(lineName(from))!;
    const toLine = semver.coerce(lineName(to))!;
    return RELEASE_LINES.filter((l) => {
        const v = semver.coerce(l.line)!;
        return semver.gt(v, fromLine) && semver.lte(v, toLine);
    });
}

/** Compares two release line names ("2.10" > "2.9"). */
export function compareLines(a: string, b: string): number {
    return semver.compare(semver.coerce(a)!, semver.coerce(b)!);
}

/** The first release of the line that lists migration `id`: the release the migration is for. */
export function migrationRelease(id: string): string {
    const line = RELEASE_LINES.find((l) => (l.migrations ?? []).some((m) => m.id === id));
    if (!line) throw new Error(`no catalog line lists migration ${id}`);
    return line.releases[0];
}

/** Ids of every migration the program can execute (notices excluded). */
export function executableMigrationIds(): string[] {
    return RELEASE_LINES.flatMap((l) => l.migrations ?? []).filter((m) => m.kind !== "notice").map((m) => m.id);
}

/** The `st2 key list -j` argument lists that, together, print every key of every scope on this version. */
export function keyListCalls(version: string): string[][] {
    const flags = KEY_LIST_FLAGS.filter((f) => semver.gte(version, f.since));
    return flags[flags.length - 1].calls.map((args) => [...args]);
}

/**
 * The arguments a script migration runs with on `version`: oslo.config scripts get
 * `--config-file /etc/st2/st2.conf` where st2 does not read it by default (before 2.8), or they
 * connect to a local MongoDB without credentials.
 */
export function scriptArgs(m: ScriptMigration, version: string): string[] {
    const extra = m.readsSt2Conf && semver.lt(version, DEFAULT_CONFIG_FILE_SINCE) ? ["--config-file", ST2_CONF_PATH] : [];
    return [...(m.args ?? []), ...extra];
}

/** `StackStorm/<repo>@<ref>:<path>` (several joined by "; " allowed), or a real-st2 transcript. */
const SOURCE = /^(StackStorm\/[\w.-]+@[\w.-]+:[\w./-]+|real-st2\/[\w./-]+)/;

function sourceProblems(what: string, source: string | undefined): string[] {
    if (!source) return [`${what} has no source`];
    return source
        .split(/; (?:shipped: )?/)
        .filter((part) => !SOURCE.test(part.replace(/^(shipped: |gone from )/, "")))
        .map((part) => `${what}: "${part}" is not a source (StackStorm/<repo>@<ref>:<path>)`);
}

/**
 * Checks the catalog's own consistency; run by the tests so that a bad edit of releases.ts is caught
 * before it plans anything.
 */
export function catalogProblems(): string[] {
    const problems: string[] = [];
    const ids = new Set<string>();
    let previous: string | undefined;
    for (const line of RELEASE_LINES) {
        for (const release of line.releases) {
            if (!semver.valid(release)) problems.push(`${line.line}: "${release}" is not a version`);
            else if (lineName(release) !== line.line) problems.push(`${release} is listed under line ${line.line}`);
            if (previous && semver.valid(release) && !semver.gt(release, previous)) {
                problems.push(`${release} is not newer than ${previous}: releases must be listed oldest first`);
            }
            previous = release;
        }
        for (const [what, source] of Object.entries(line.sources)) problems.push(...sourceProblems(`${line.line} ${what}`, source));
        if (line.python && !line.sources.python) problems.push(`${line.line}: python has no source`);
        if (!line.os.length) problems.push(`${line.line}: no distribution`);
        for (const o of line.os) {
            if (o.startsWith("ubuntu-") && !UBUNTU_CODENAMES[o.slice("ubuntu-".length)]) problems.push(`${line.line}: ${o} has no codename in UBUNTU_CODENAMES`);
        }
        for (const f of line.reloadFlags ?? []) problems.push(...sourceProblems(`${line.line} reload flag ${f.flag}`, f.source));
        for (const m of line.migrations ?? []) {
            problems.push(...sourceProblems(`migration ${m.id}`, m.source));
            if (ids.has(m.id)) problems.push(`migration id ${m.id} is used twice`);
            ids.add(m.id);
            if (m.kind === "script" && m.shippedUntil && !RELEASE_LINES.some((l) => l.line === m.shippedUntil)) {
                problems.push(`${m.id}: shippedUntil ${m.shippedUntil} is not a line of the catalog`);
            }
        }
        if (!line.packages.includes("st2")) problems.push(`${line.line}: every line ships st2`);
    }
    return problems;
}
