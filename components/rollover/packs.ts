/**
 * Pack rules of a roll-over: how packs group by repository, and which lists a release cannot install.
 * Pure; read by the config check (config.ts) and the script that installs them (host-scripts.ts).
 */
import { packEra } from "../catalog/rollover";

export interface Pack {
    name: string;
    repoUrl: string;
}

/** Groups packs by repository, keeping the configured order (a repository may hold several packs). */
export function packsByRepo(packs: readonly Pack[]): { repoUrl: string; names: string[] }[] {
    const groups: { repoUrl: string; names: string[] }[] = [];
    for (const p of packs) {
        const g = groups.find((x) => x.repoUrl === p.repoUrl);
        if (g) g.names.push(p.name);
        else groups.push({ repoUrl: p.repoUrl, names: [p.name] });
    }
    return groups;
}

/**
 * Why these packs cannot be installed on this version, one problem per pack: `st2 pack install <url>`
 * (3.0 and later) installs the one pack a repository holds, so two packs cannot share a repository.
 */
export function packProblems(packs: readonly Pack[], version: string): { index: number; problem: string }[] {
    if (packEra(version).install !== "packInstallCommand") return [];
    return packs.flatMap((p, index) => {
        const first = packs.findIndex((o) => o.repoUrl === p.repoUrl);
        return first < index
            ? [{ index, problem: `is also the repository of ${packs[first].name}: StackStorm ${version} installs one pack per repository (st2 pack install <url>)` }]
            : [];
    });
}
