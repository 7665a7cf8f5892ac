/**
 * Content roll-over facts that depend on the version of the new instance: how packs are installed
 * from git, how installed packs are listed, and which Ubuntu release a fresh instance of a line runs.
 *
 * Sources: st2docs `install/upgrades.rst` (Content Roll-Over: `st2 run packs.install packs=<list>
 * repo_url=<url>` in the 2.x runbook, `st2 pack install <repo-url>` in newer docs), `packs.rst`, the
 * supported platforms of each release's install docs.
 */
import * as semver from "semver";

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
}

export const PACK_ERAS: readonly PackEra[] = [
    { since: "1.4.0", install: "packsInstallAction", listField: "name" },
    // Packs gain a `ref` distinct from their display name in 2.1.
    { since: "2.1.0", install: "packsInstallAction", listField: "ref" },
    { since: "3.0.0", install: "packInstallCommand", listField: "ref" },
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
 * The newest Ubuntu each line supports: what a fresh instance for a roll-over runs. Lines before 2.1
 * are absent: a roll-over cannot target them (their `st2 key load` drops scope and secret).
 */
export const FRESH_INSTALL_UBUNTU: readonly { since: string; series: UbuntuSeries }[] = [
    { since: "2.1.0", series: { codename: "xenial", version: "16.04" } },
    { since: "3.1.0", series: { codename: "bionic", version: "18.04" } },
    { since: "3.5.0", series: { codename: "focal", version: "20.04" } },
    { since: "3.9.0", series: { codename: "jammy", version: "22.04" } },
];

export function freshInstallUbuntu(version: string): UbuntuSeries {
    const rows = FRESH_INSTALL_UBUNTU.filter((r) => semver.gte(version, r.since));
    if (!rows.length) {
        throw new Error(`StackStorm ${version} has no Ubuntu release in the catalog for a fresh instance (from ${FRESH_INSTALL_UBUNTU[0].since} on)`);
    }
    return rows[rows.length - 1].series;
}
