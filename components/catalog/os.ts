/**
 * Which distributions each release line supports, as data in releases.ts, and what that allows in
 * place: pure functions of an os-release and the catalog.
 */
import * as semver from "semver";
import { EL_IDS, RELEASE_LINES } from "./releases";
import type { OsKey, OsRelease, ReleaseLine } from "./types";

/**
 * The catalog's name for a distribution, or undefined when StackStorm never published packages for
 * its family. EL versions keep only the major ("8.9" -> el8); Ubuntu keeps `VERSION_ID` as is.
 */
export function osKey(os: OsRelease): OsKey | undefined {
    const id = os.id.trim().toLowerCase();
    const version = os.versionId.trim();
    if (id === "ubuntu" && /^\d+\.\d+$/.test(version)) return `ubuntu-${version}`;
    const major = /^(\d+)(\.\d+)*$/.exec(version)?.[1];
    if (EL_IDS.includes(id) && major) return `el${Number(major)}`;
    return undefined;
}

const EL_NAME: Record<string, string> = { rhel: "RHEL", centos: "CentOS", rocky: "Rocky Linux", almalinux: "AlmaLinux" };

/** "Ubuntu 16.04", "Rocky Linux 8.9": for messages. */
export function osLabel(os: OsRelease): string {
    const id = os.id.trim().toLowerCase();
    const name = id === "ubuntu" ? "Ubuntu" : (EL_NAME[id] ?? os.id);
    return `${name} ${os.versionId}`.trim();
}

/** "Ubuntu 20.04", "RHEL/CentOS/Rocky 8": how the install docs name a catalog key. */
export function osKeyLabel(key: OsKey): string {
    return key.startsWith("ubuntu-") ? `Ubuntu ${key.slice("ubuntu-".length)}` : `RHEL/CentOS/Rocky ${key.slice(2)}`;
}

export function lineSupports(line: ReleaseLine, os: OsRelease): boolean {
    const key = osKey(os);
    return key !== undefined && line.os.includes(key);
}

/**
 * The newest release reachable from `from` without leaving the OS: every line after `from`'s, up to
 * the result's, supports it. `from`'s own line counts as reachable (the host runs it), so a patch
 * release of it is always possible. Undefined when `from` is not a catalog release.
 */
export function newestInPlace(os: OsRelease, from: string): string | undefined {
    if (!semver.valid(from)) return undefined;
    const index = RELEASE_LINES.findIndex((l) => l.releases.includes(from));
    if (index < 0) return undefined;
    let last = RELEASE_LINES[index];
    for (const line of RELEASE_LINES.slice(index + 1)) {
        if (!lineSupports(line, os)) break;
        last = line;
    }
    return last.releases[last.releases.length - 1];
}
