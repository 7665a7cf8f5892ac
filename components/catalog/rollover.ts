/**
 * Content roll-over facts that depend on the version of the new instance: how packs are installed
 * from git, how installed packs are listed, and which Ubuntu release a fresh instance of a line runs.
 *
 * Sources: st2docs `install/upgrades.rst` (Content Roll-Over: `st2 run packs.install packs=<list>
 * repo_url=<url>` in the 2.x runbook, `st2 pack install <repo-url>` in newer docs), `packs.rst`, the
 * distributions of each line (`os` in releases.ts).
 */
import * as semver from "semver";
import { releaseLine } from "./index";
import { UBUNTU_CODENAMES } from "./releases";

/** The oldest release a roll-over may target. */
const ROLLOVER_TARGETS_SINCE = "2.1.0";

/**
 * `packsInstallAction`: `st2 run packs.install packs=<a,b> repo_url=<url>`, one run per repository.
 * `packInstallCommand`: `st2 pack install <url> [<url>...]`.
 */
export type PackInstallMethod = "packsInstallAction" | "packInstallCommand";

export interface PackEra {
    since: string;
    install: PackInstallMethod;
    /** The field of `st2 pack list -j` that holds what `packs.install` was asked for. */
    listField: "name" | "ref";
    source: string;
}

export const PACK_ERAS: readonly PackEra[] = [
    { since: "1.4.0", install: "packsInstallAction", listField: "name", source: "StackStorm/st2docs@v1.4:docs/source/install/upgrades.rst (Safe way: Migrate)" },
    // Packs gain a `ref` distinct from their display name in 2.1. The roll-over docs show
    // `st2 pack install <url>` from 2.4 (2.1-2.3: `st2 run packs.install`); the packs.install action
    // still ships through 3.x, so 2.x keeps it and 3.0 switches.
    {
        since: "2.1.0",
        install: "packsInstallAction",
        listField: "ref",
        source: "StackStorm/st2docs@v3.9:docs/source/upgrade_notes.rst (v2.1: pack ref); StackStorm/st2docs@v2.3:docs/source/install/upgrades.rst (Content Roll-Over)",
    },
    {
        since: "3.0.0",
        install: "packInstallCommand",
        listField: "ref",
        source: "StackStorm/st2docs@v2.4:docs/source/install/upgrades.rst (Content Roll-Over: st2 pack install); StackStorm/st2@v3.0.0:contrib/packs/actions/install.meta.yaml",
    },
];

export function packEra(version: string): PackEra {
    const eras = PACK_ERAS.filter((e) => semver.gte(version, e.since));
    if (!eras.length) throw new Error(`"${version}" is older than every pack era of the catalog`);
    return eras[eras.length - 1];
}

/** An Ubuntu release StackStorm publishes packages for, as the AMI names of Canonical spell it. */
export interface UbuntuSeries {
    codename: string;
    version: string;
}

/**
 * The newest Ubuntu a line supports (its `os` in releases.ts): what a fresh instance for a roll-over
 * runs. Lines before 2.1 are refused: a roll-over cannot target them (their `st2 key load` drops
 * scope and secret).
 */
export function freshInstallUbuntu(version: string): UbuntuSeries {
    if (!semver.valid(version) || semver.lt(version, ROLLOVER_TARGETS_SINCE)) {
        throw new Error(`StackStorm ${version} cannot be the target of a roll-over: fresh instances are made from ${ROLLOVER_TARGETS_SINCE} on`);
    }
    const ubuntu = releaseLine(version)
        .os.filter((o) => o.startsWith("ubuntu-"))
        .map((o) => o.slice("ubuntu-".length))
        .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    const newest = ubuntu[ubuntu.length - 1];
    const codename = newest ? UBUNTU_CODENAMES[newest] : undefined;
    if (!codename) {
        throw new Error(`StackStorm ${version} has no Ubuntu release with a known codename in the catalog (add it to UBUNTU_CODENAMES in releases.ts)`);
    }
    return { codename, version: newest };
}
