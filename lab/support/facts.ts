// Host facts for hosts that do not exist (engine tests, the bench's previews, unit tests): what the
// read-only fact script would report, given to the program through FACTS_FILE_ENV.
import * as fs from "node:fs";
import * as path from "node:path";
import { FACTS_FILE_ENV, type HostFacts } from "../../components/facts";

/** A StackStorm `version` host on `os` ("ubuntu:20.04", "centos:7") with st2 and st2web installed. */
export function fakeFacts(version: string, os = "ubuntu:20.04", over: Partial<HostFacts> = {}): HostFacts {
    const [id, versionId] = os.split(":");
    const el = id !== "ubuntu" && id !== "debian";
    return {
        os: { id, versionId },
        packageManager: el ? "yum" : "apt",
        packages: { st2: `${version}-1`, st2web: `${version}-1` },
        unfinished: [],
        st2Version: null,
        st2ctl: null,
        mistral: { dbRevision: null, running: false },
        freeMb: { packageCache: 9000, backup: 9000 },
        root: true,
        ...over,
    };
}

/** Writes `facts` (host name -> facts) into `dir` and points `env` at it, as a review without the hosts would. */
export function useFactsFile(dir: string, env: NodeJS.ProcessEnv, facts: Record<string, HostFacts>): string {
    const file = path.join(dir, "facts.json");
    fs.writeFileSync(file, JSON.stringify(facts));
    env[FACTS_FILE_ENV] = file;
    return file;
}
